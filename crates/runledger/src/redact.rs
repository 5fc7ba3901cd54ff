//! Database URLs as they may be shown: a password never leaves the process
//! in a log line, an error or a command's output.

/// `url` with the password of its user info (`scheme://user:password@host`)
/// and the value of any `password=` query parameter replaced by `***`;
/// any other text is answered unchanged.
pub fn redact_db_url(url: &str) -> String {
    let mut shown = url.to_owned();
    if let Some(scheme_end) = shown.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = shown[authority_start..]
            .find(['/', '?', '#'])
            .map_or(shown.len(), |end| authority_start + end);
        if let Some(at) = shown[authority_start..authority_end].rfind('@') {
            let user_info = &shown[authority_start..authority_start + at];
            if let Some(colon) = user_info.find(':') {
                let password_start = authority_start + colon + 1;
                shown.replace_range(password_start..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = shown.find('?') {
        let (head, query) = shown.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{head}{}", query.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact_db_url;

    #[test]
    fn passwords_are_replaced_and_the_rest_kept() {
        for (url, shown) in [
            (
                "postgres://bob:s3cret@db:5432/runs",
                "postgres://bob:***@db:5432/runs",
            ),
            ("postgres://bob:p@ss@db/runs", "postgres://bob:***@db/runs"),
            ("postgres://bob@db/runs", "postgres://bob@db/runs"),
            (
                "postgres://db/runs?user=bob&password=s3cret&sslmode=require",
                "postgres://db/runs?user=bob&password=***&sslmode=require",
            ),
            ("sqlite://runs.db", "sqlite://runs.db"),
            ("/var/lib/runs.db", "/var/lib/runs.db"),
        ] {
            assert_eq!(redact_db_url(url), shown, "{url}");
        }
    }
}
