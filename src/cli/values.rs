//! Command-line values clap cannot check by type alone.

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::model::BuilderChoice;

/// `--builder auto|buildkit|classic` (completions list the three).
pub fn builder() -> impl TypedValueParser<Value = BuilderChoice> {
    PossibleValuesParser::new(BuilderChoice::NAMES)
        .map(|name| BuilderChoice::parse(&name).unwrap_or_default())
}

/// `--max-size SIZE`: bytes, or with a unit (`500MB`, `5GB`, `2GiB`).
pub fn size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| {
            "expected a size: a number of bytes, or with a unit, e.g. 5GB or 500MB".to_owned()
        })
}

/// `--jobs N`: a count of at least 1 (kiln.kdl's `jobs` allows the same range).
pub fn jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        Ok(_) => Err("the job limit is between 1 and 1024".to_owned()),
        Err(_) => Err("expected a whole number, e.g. 2".to_owned()),
    }
}

/// `--user UID[:GID]`: numeric ids, as files on the host are owned by them (a name
/// would be looked up in the image, not on the host), in the range the kernel and
/// runc accept (0 to 2147483647).
pub fn user(text: &str) -> Result<String, String> {
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<i32>().is_ok_and(|id| id >= 0)
    };
    let valid = match text.split_once(':') {
        Some((uid, gid)) => numeric(uid) && numeric(gid),
        None => numeric(text),
    };
    if valid {
        Ok(text.to_owned())
    } else {
        Err(
            "expected UID or UID:GID as numbers from 0 to 2147483647, e.g. 1000:1000 (`id -u`:`id -g`)"
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_counted_from_one() {
        assert_eq!(jobs("2"), Ok(2));
        assert!(jobs("0").unwrap_err().contains("between 1 and 1024"));
        assert!(jobs("-1").unwrap_err().contains("whole number"));
        assert!(jobs("many").is_err());
    }

    #[test]
    fn users_are_numeric_ids() {
        assert_eq!(user("1000:1000"), Ok("1000:1000".to_owned()));
        assert_eq!(user("0"), Ok("0".to_owned()));
        assert!(user("2147483647:0").is_ok());
        for bad in [
            "abc",
            "1000:",
            ":1000",
            "1000:x",
            "10 00",
            "",
            "99999999999:0",
            "0:2147483648",
        ] {
            assert!(user(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
