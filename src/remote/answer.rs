//! The box's answers in words: what `config push` changed, what a POST
//! said, and why a refusal refused. Pure text in, text out.

use std::fmt::Write as _;

use serde_json::Value;

/// The longest refusal text shown; a box that sends a page of HTML
/// does not fill the terminal.
const REFUSAL_CHARS: usize = 2000;

/// Why the box refused, from its body: the `error` or `message` of a
/// JSON object, else the text itself.
pub fn refusal_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(text) = v["error"].as_str().or(v["message"].as_str())
    {
        return text.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(no message)".into();
    }
    match text.char_indices().nth(REFUSAL_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// `config push`'s 200 answer: each change as the ipvsadm line it is,
/// then whether it was kept.
/// `{"changes": [...], "persisted": bool, "confirm_by": null | "...Z"}`.
pub fn pushed(body: &[u8], dry_run: bool) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let changes = v["changes"].as_array().ok_or("no \"changes\" list in it")?;
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("no changes\n");
    }
    for change in changes {
        match change.as_str() {
            Some(line) => {
                let _ = writeln!(out, "{line}");
            }
            None => {
                let _ = writeln!(out, "{change}");
            }
        }
    }
    if dry_run {
        out.push_str("dry run: nothing was applied\n");
        return Ok(out);
    }
    match v["persisted"].as_bool() {
        Some(true) => out.push_str("persisted: yes\n"),
        Some(false) => out.push_str("persisted: no\n"),
        None => {}
    }
    // A time as the box gives it: UTC text, or {"boot_ms", "utc"} (utc
    // null until the box's clock is set).
    let by = match &v["confirm_by"] {
        Value::String(utc) => Some(utc.clone()),
        Value::Object(time) => Some(
            match (time.get("utc").and_then(Value::as_str), time.get("boot_ms")) {
                (Some(utc), _) => utc.to_string(),
                (None, Some(ms)) => format!("{ms} ms after the box's boot"),
                (None, None) => "soon".to_string(),
            },
        ),
        _ => None,
    };
    if let Some(by) = by {
        let _ = writeln!(
            out,
            "confirm by: {by} (lvsinit remote ... config confirm; else the box goes back)"
        );
    }
    for (key, label) in [("warnings", "warning"), ("errors", "failed")] {
        for item in v[key].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "{label}: {}",
                item.as_str().unwrap_or(&item.to_string())
            );
        }
    }
    if let Some(note) = v["note"].as_str() {
        let _ = writeln!(out, "note: {note}");
    }
    Ok(out)
}

/// A POST's 2xx answer, short: its `message`, else each field on a line
/// of its own, else its text; `done` for an empty body.
pub fn posted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return "done\n".into();
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return format!("{}\n", text.trim_end());
    };
    if let Some(message) = v["message"].as_str() {
        return format!("{message}\n");
    }
    let Some(fields) = v.as_object() else {
        return format!("{v}\n");
    };
    let mut out = String::new();
    for (key, value) in fields {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            Value::Bool(true) => "yes".into(),
            Value::Bool(false) => "no".into(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        let _ = writeln!(out, "{}: {value}", key.replace('_', " "));
    }
    if out.is_empty() {
        out.push_str("done\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        assert_eq!(
            refusal_text(br#"{"error": "no such service \"web\""}"#),
            "no such service \"web\""
        );
        assert_eq!(refusal_text(br#"{"message": "busy"}"#), "busy");
        assert_eq!(refusal_text(b"  wrong password\n"), "wrong password");
        assert_eq!(refusal_text(b""), "(no message)");
        assert_eq!(refusal_text(br#"{"code": 7}"#), r#"{"code": 7}"#);
        let long = "x".repeat(5000);
        assert_eq!(refusal_text(long.as_bytes()).len(), REFUSAL_CHARS + 3);
    }

    #[test]
    fn push_answers() {
        let body = br#"{"changes": ["-A -t 192.168.1.100:5432 -s wrr", "-d -t 192.168.1.100:5432 -r 192.168.3.3:5432"],
                        "persisted": true, "confirm_by": null}"#;
        assert_eq!(
            pushed(body, false).unwrap(),
            "-A -t 192.168.1.100:5432 -s wrr\n-d -t 192.168.1.100:5432 -r 192.168.3.3:5432\npersisted: yes\n"
        );
        assert_eq!(
            pushed(
                br#"{"changes": [], "persisted": false, "confirm_by": "2026-12-04T19:00:00Z"}"#,
                false
            )
            .unwrap(),
            "no changes\npersisted: no\nconfirm by: 2026-12-04T19:00:00Z \
             (lvsinit remote ... config confirm; else the box goes back)\n"
        );
        assert_eq!(
            pushed(body, true).unwrap(),
            "-A -t 192.168.1.100:5432 -s wrr\n-d -t 192.168.1.100:5432 -r 192.168.3.3:5432\n\
             dry run: nothing was applied\n"
        );
        // What the box answers: a time since its boot until its clock is
        // set, what failed, and why it was not kept.
        assert_eq!(
            pushed(
                br#"{"changes": ["ip address add 192.168.3.2/24 dev lan"], "persisted": false,
                    "confirm_by": {"boot_ms": 70000, "utc": null}, "warnings": ["w"],
                    "errors": ["sysctl x: no such key"], "note": "not kept on the disk until confirmed"}"#,
                false
            )
            .unwrap(),
            "ip address add 192.168.3.2/24 dev lan\npersisted: no\n\
             confirm by: 70000 ms after the box's boot (lvsinit remote ... config confirm; else \
             the box goes back)\nwarning: w\nfailed: sysctl x: no such key\n\
             note: not kept on the disk until confirmed\n"
        );
        assert!(pushed(b"ok", false).unwrap_err().starts_with("not JSON"));
        assert!(pushed(b"{}", false).unwrap_err().contains("changes"));
    }

    #[test]
    fn post_answers() {
        assert_eq!(posted(b""), "done\n");
        assert_eq!(
            posted(br#"{"message": "rebooting in 1 s"}"#),
            "rebooting in 1 s\n"
        );
        assert_eq!(
            posted(br#"{"service": "postgres", "real_server": "192.168.3.2:5432", "weight": 0, "drained": true}"#),
            // In the order of the names (serde_json keeps objects sorted).
            "drained: yes\nreal server: 192.168.3.2:5432\nservice: postgres\nweight: 0\n"
        );
        assert_eq!(posted(b"reloading\n"), "reloading\n");
        assert_eq!(posted(b"[1,2]"), "[1,2]\n");
    }
}
