//! Source locations carried by every value of the model, so that later stages can point
//! a diagnostic back into the KDL file a value came from.

use miette::SourceSpan;

/// Index of a loaded configuration file in [`Sources`](super::Sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub usize);

/// Where a value was written: which file, which bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc {
    pub source: SourceId,
    pub span: SourceSpan,
}

impl Loc {
    pub fn new(source: SourceId, span: SourceSpan) -> Self {
        Self { source, span }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Spanned<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Self { value, loc }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
