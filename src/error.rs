//! What an error means to whoever runs matrix: input to fix (exit 2), or a
//! failure to retry or investigate (exit 1). Every library error type says
//! which through [`Fault`], delegating to the errors it wraps, so the
//! command line asks one method and a new error type that reaches it
//! without saying is a compile error, not a silent exit 1.

/// Whether an error is bad input or a failure.
pub trait Fault: std::error::Error {
    /// True when what the user gave must change: arguments, `matrix.toml`,
    /// `matrix.lock`, templates, contexts, tags, application folders.
    fn is_bad_input(&self) -> bool;

    /// The exit code the README documents for this error: 2 for bad input,
    /// 1 for a failure.
    fn exit_code(&self) -> u8 {
        if self.is_bad_input() {
            EXIT_BAD_INPUT
        } else {
            EXIT_FAILURE
        }
    }
}

/// Exit code of a failure: a cell, download, push or check failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of bad input: fix it and run again.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Local file or network trouble is a failure.
impl Fault for std::io::Error {
    fn is_bad_input(&self) -> bool {
        false
    }
}

impl<E: Fault> Fault for Box<E> {
    fn is_bad_input(&self) -> bool {
        (**self).is_bad_input()
    }
}

impl<E: Fault> Fault for std::sync::Arc<E> {
    fn is_bad_input(&self) -> bool {
        (**self).is_bad_input()
    }
}

/// Implements [`Fault`] for error types that are always bad input (values
/// that did not parse) or always failures.
macro_rules! fault {
    (bad_input: $($ty:ty),+ $(,)?) => {
        $(impl $crate::error::Fault for $ty {
            fn is_bad_input(&self) -> bool {
                true
            }
        })+
    };
    (failure: $($ty:ty),+ $(,)?) => {
        $(impl $crate::error::Fault for $ty {
            fn is_bad_input(&self) -> bool {
                false
            }
        })+
    };
}
pub(crate) use fault;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_failures_and_wrappers_delegate() {
        let io = std::io::Error::other("disk");
        assert_eq!(io.exit_code(), EXIT_FAILURE);
        assert_eq!(Box::new(std::io::Error::other("disk")).exit_code(), EXIT_FAILURE);
    }
}
