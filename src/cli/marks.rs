//! The marks results are shown with, live and in the final lines alike: one word of
//! four letters, one colour (through `console`, which leaves the text plain when colour
//! is off).

use console::{Color, style};

use crate::check::outcome::ResultClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// An entity that passed.
    Ok,
    /// An image got (built or from a tier), or other work done.
    Done,
    /// An inaccurate entity.
    Warn,
    /// A failed node, an entity with a script error or a timeout.
    Fail,
    Skip,
    /// Cancelled.
    Stop,
    /// A node that started (plain output only).
    Start,
    /// A node that expanded into several.
    Fork,
}

impl Mark {
    pub fn of_class(class: ResultClass) -> Self {
        match class {
            ResultClass::Success => Mark::Ok,
            ResultClass::Inaccurate => Mark::Warn,
            ResultClass::ScriptError | ResultClass::Timeout => Mark::Fail,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Mark::Ok => "ok  ",
            Mark::Done => "done",
            Mark::Warn => "warn",
            Mark::Fail => "FAIL",
            Mark::Skip => "skip",
            Mark::Stop => "stop",
            Mark::Start => "start",
            Mark::Fork => "fork",
        }
    }

    fn color(self) -> Color {
        match self {
            Mark::Ok | Mark::Done => Color::Green,
            Mark::Warn | Mark::Skip | Mark::Stop => Color::Yellow,
            Mark::Fail => Color::Red,
            Mark::Fork => Color::Cyan,
            Mark::Start => Color::White,
        }
    }

    /// The word, coloured when `color`.
    pub fn show(self, color: bool) -> String {
        let styled = style(self.word()).fg(self.color()).force_styling(color);
        if self == Mark::Start {
            styled.dim().to_string()
        } else {
            styled.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_get_the_marks_of_their_outcome() {
        assert_eq!(Mark::of_class(ResultClass::Success), Mark::Ok);
        assert_eq!(Mark::of_class(ResultClass::Inaccurate), Mark::Warn);
        assert_eq!(Mark::of_class(ResultClass::ScriptError), Mark::Fail);
        assert_eq!(Mark::of_class(ResultClass::Timeout), Mark::Fail);
    }

    #[test]
    fn colour_is_only_there_when_asked_for() {
        assert_eq!(Mark::Fail.show(false), "FAIL");
        let red = Mark::Fail.show(true);
        assert!(
            red.contains("FAIL") && red.contains("\u{1b}[31m"),
            "{red:?}"
        );
        assert_eq!(Mark::Ok.show(false), "ok  ");
    }
}
