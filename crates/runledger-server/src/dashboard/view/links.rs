//! Links between dashboard views: the filters, the page position (`cursor`
//! for older pages, `newer` for newer ones) and the open run travel in the
//! query string of `/`; a concurrency group's view is
//! `/dashboard/group?key=`. Percent-encoded here.

/// The view a link leads to: filters as typed (kept even when invalid so
/// the form shows them), the page position and the open run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    /// `state=`, empty for any.
    pub state: String,
    /// `kind=`, empty for any.
    pub kind: String,
    /// `cursor=`: a page of runs older than this cursor; empty for the
    /// newest page.
    pub cursor: String,
    /// `newer=`: a page of runs at or newer than this cursor.
    pub newer: String,
    /// `run=`, empty for none.
    pub run: String,
}

impl Filter {
    /// `/` with the non-empty parts as query parameters.
    pub(crate) fn href(&self) -> String {
        let pairs = [
            ("state", &self.state),
            ("kind", &self.kind),
            ("cursor", &self.cursor),
            ("newer", &self.newer),
            ("run", &self.run),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", percent_encode(value)))
            .collect();
        if query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", query.join("&"))
        }
    }

    /// The same view showing run `id`.
    pub(crate) fn with_run(&self, id: &str) -> Filter {
        Filter {
            run: id.to_owned(),
            ..self.clone()
        }
    }

    /// The same filters on the page older than `cursor` (empty: the
    /// newest page).
    pub(crate) fn with_cursor(&self, cursor: &str) -> Filter {
        Filter {
            cursor: cursor.to_owned(),
            newer: String::new(),
            run: String::new(),
            ..self.clone()
        }
    }

    /// The same filters on the page of runs at or newer than `newer`.
    pub(crate) fn with_newer(&self, newer: &str) -> Filter {
        Filter {
            cursor: String::new(),
            newer: newer.to_owned(),
            run: String::new(),
            ..self.clone()
        }
    }

    /// Whether this is the newest page, the one live runs join.
    pub(crate) fn is_newest_page(&self) -> bool {
        self.cursor.is_empty() && self.newer.is_empty()
    }

    /// The same view without the open run.
    pub(crate) fn without_run(&self) -> Filter {
        Filter {
            run: String::new(),
            ..self.clone()
        }
    }

    /// Only runs in `state`, first page.
    pub(crate) fn state_only(state: &str) -> Filter {
        Filter {
            state: state.to_owned(),
            ..Filter::default()
        }
    }
}

/// The view of concurrency group `key`.
pub(crate) fn group_href(key: &str) -> String {
    format!("/dashboard/group?key={}", percent_encode(key))
}

/// The dashboard with run `id` open (no filters).
pub(crate) fn run_href(id: &str) -> String {
    format!("/?run={}", percent_encode(id))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_keep_only_the_given_parts_encoded() {
        assert_eq!(Filter::default().href(), "/");
        let filter = Filter {
            state: "running".into(),
            kind: "etl".into(),
            cursor: String::new(),
            newer: String::new(),
            run: "job-1:acme".into(),
        };
        assert_eq!(filter.href(), "/?state=running&kind=etl&run=job-1%3Aacme");
        assert_eq!(
            filter.with_cursor("a&b=c").href(),
            "/?state=running&kind=etl&cursor=a%26b%3Dc"
        );
        assert_eq!(filter.without_run().href(), "/?state=running&kind=etl");
        assert_eq!(
            filter.with_newer("41").href(),
            "/?state=running&kind=etl&newer=41"
        );
        assert!(!filter.with_newer("41").is_newest_page());
        assert!(filter.is_newest_page());
        assert_eq!(
            group_href("deploy/prod:eu"),
            "/dashboard/group?key=deploy%2Fprod%3Aeu"
        );
        assert_eq!(Filter::state_only("timed_out").href(), "/?state=timed_out");
        assert_eq!(percent_encode("<é>"), "%3C%C3%A9%3E");
    }
}
