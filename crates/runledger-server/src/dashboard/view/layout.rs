//! The page shell (head, stylesheet, script, the top bar) and the pages
//! that are only a message or the sign-in form.

use maud::{DOCTYPE, Markup, html};
use runledger::Tenant;

/// Who the top bar names, and whether it offers sign-out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopBar<'a> {
    /// The tenant shown, if any.
    pub tenant: Option<&'a Tenant>,
    /// Whether the browser signed in (and so may sign out).
    pub signed_in: bool,
    /// Whether the page updates live (shows the stream's status).
    pub live: bool,
}

/// A full page: `title`, the top bar and `body` inside `<main>`.
pub(crate) fn page(title: &str, top: TopBar<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                link rel="icon" type="image/svg+xml" href="/dashboard/icon.svg";
                title { "runledger · " (title) }
                link rel="stylesheet" href="/dashboard/app.css";
                script src="/dashboard/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "runledger" }
                    @if let Some(tenant) = top.tenant {
                        span.tenant { "tenant " strong #tenant { (tenant) } }
                        @if top.live {
                            span #live-status .live.live-off role="status" {
                                "live updates need JavaScript"
                            }
                        }
                    }
                    @if top.signed_in {
                        form.sign-out method="post" action="/dashboard/sign-out" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                (body)
            }
        }
    }
}

/// The sign-in form; `error` says why the last attempt failed.
pub(crate) fn sign_in_page(error: Option<&str>) -> Markup {
    let top = TopBar {
        tenant: None,
        signed_in: false,
        live: false,
    };
    page(
        "sign in",
        top,
        html! {
            main #sign-in {
                h1 { "Sign in" }
                p { "This server needs an API token. Create one with "
                    code { "runledger tenant add NAME" } "; the dashboard shows that tenant's runs." }
                @if let Some(error) = error {
                    p #sign-in-error .error role="alert" { (error) }
                }
                form method="post" action="/dashboard/sign-in" {
                    label for="token" { "API token" }
                    input #token type="password" name="token" required
                        autocomplete="off" spellcheck="false" autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// A page that only says something (a refused request, a server error).
pub(crate) fn message_page(title: &str, message: &str) -> Markup {
    let top = TopBar {
        tenant: None,
        signed_in: false,
        live: false,
    };
    page(
        title,
        top,
        html! {
            main #message {
                h1 { (title) }
                p .error role="alert" { (message) }
                p { a href="/" { "Back to the dashboard" } }
            }
        },
    )
}
