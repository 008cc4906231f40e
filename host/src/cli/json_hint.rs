//! What to say when a `host call` argument is not JSON.

/// What to say about a `JSON_ARG` that is not JSON. Usually the shell ate
/// its quotes: `"World"` typed without single quotes around it arrives as
/// `World`, and `{"id":7}` as `{id:7}`; the fix is the same quotes again,
/// inside single quotes, not the whole argument made into a string.
pub(super) fn json_arg_hint(arg: &str) -> String {
    let trimmed = arg.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return format!("quote strings, for example '\"{arg}\"'");
    }
    match quote_bare_words(arg) {
        Some((fixed, keys, strings)) if serde_json::from_str::<serde_json::Value>(&fixed).is_ok() => {
            let what = match (keys, strings) {
                (true, true) => "the keys and strings",
                (true, false) => "the keys",
                _ => "the strings",
            };
            format!("quote {what}, inside single quotes so that the shell keeps them: '{fixed}'")
        }
        _ => {
            "object keys and strings take double quotes, inside single quotes so that the shell keeps them".to_string()
        }
    }
}

/// `arg` with every bare word in double quotes (`true`, `false` and `null`
/// left alone where they are values), and whether keys and values were
/// quoted; `None` if nothing was bare.
fn quote_bare_words(arg: &str) -> Option<(String, bool, bool)> {
    let chars: Vec<char> = arg.chars().collect();
    let (mut fixed, mut quoted_key, mut quoted_value) = (String::with_capacity(arg.len() + 8), false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // A string: copied as it is, escapes included.
            fixed.push(c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    fixed.push(chars[i]);
                    i += 1;
                }
                fixed.push(chars[i]);
                i += 1;
            }
            if i < chars.len() {
                fixed.push('"');
            }
        } else if c.is_ascii_digit() || c == '-' {
            // A number, exponent included.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-')) {
                fixed.push(chars[i]);
                i += 1;
            }
            continue;
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '-' | '.')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            if !is_key && matches!(word.as_str(), "true" | "false" | "null") {
                fixed.push_str(&word);
            } else {
                fixed.push_str(&format!("\"{word}\""));
                if is_key { quoted_key = true } else { quoted_value = true }
            }
            continue;
        } else {
            fixed.push(c);
        }
        i += 1;
    }
    (quoted_key || quoted_value).then_some((fixed, quoted_key, quoted_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_words_are_quoted_and_nothing_else_changes() {
        let fixed = |arg: &str| quote_bare_words(arg).map(|(fixed, ..)| fixed);
        assert_eq!(fixed("{id:7}").as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(
            fixed(r#"{msg: "say \"hi\" there", n: -1.5e3, ok: true, none: null, tag: x-1}"#).as_deref(),
            Some(r#"{"msg": "say \"hi\" there", "n": -1.5e3, "ok": true, "none": null, "tag": "x-1"}"#)
        );
        assert_eq!(fixed(r#"{"true": false}"#), None);
        assert_eq!(fixed("[1, 2e5]"), None);
    }

    #[test]
    fn the_hint_fits_what_the_shell_left() {
        assert_eq!(json_arg_hint("World"), r#"quote strings, for example '"World"'"#);
        assert!(json_arg_hint("{id:7}").starts_with("quote the keys,"));
        assert!(json_arg_hint("[a, b]").starts_with("quote the strings,"));
        assert!(json_arg_hint("{id:}").starts_with("object keys and strings take double quotes"));
    }
}
