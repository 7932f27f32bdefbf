//! What `[management]`, `[[syslog]]` and `[[webhook]]` say: the config
//! crate's types (`config/src/management_config.rs`), under the name the
//! management subsystem uses.

pub use crate::config::{Management, Syslog, Transport, UrlError, Webhook, WebhookUrl, canonical};
