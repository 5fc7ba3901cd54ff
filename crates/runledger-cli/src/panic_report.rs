//! What a user reads when `runledger` hits a bug (a panic): one line saying
//! so with the panic's message, not Rust's `panicked at src/…rs:LINE`
//! report, which names source lines a user cannot act on. With
//! `RUST_BACKTRACE` set the standard report (location and backtrace) is
//! kept, for the bug report.

/// Installs the hook for this process (the `serve` threads included).
pub fn install() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{}", message(info.payload()));
    }));
}

/// The report of a panic whose payload is `payload`.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    format!(
        "runledger: internal error: {what}\n\
         hint: this is a bug in runledger; please report it with the command you ran \
         (run it again with RUST_BACKTRACE=1 to add where it happened)"
    )
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn a_panic_reads_as_an_internal_error_with_its_message() {
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("writer thread is gone"));
        let text = message(owned.as_ref());
        assert!(
            text.starts_with("runledger: internal error: writer thread is gone\n"),
            "{text}"
        );
        assert!(text.contains("RUST_BACKTRACE=1"), "{text}");
        let literal: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert!(message(literal.as_ref()).contains("internal error: boom"));
        let other: Box<dyn std::any::Any + Send> = Box::new(7_u8);
        assert!(message(other.as_ref()).contains("internal error: no message"));
    }
}
