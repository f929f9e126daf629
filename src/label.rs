//! Text staff type for others to read: a request's customer label and note.
//! Besides control characters (line breaks and the like), such text may not
//! hold characters that make it display as something other than what it is:
//! bidirectional controls, which reorder what follows them (`Contoso`,
//! U+202E and `gnp.exe` read as `Contosoexe.png`), and invisible zero-width
//! characters, which hide inside a word so that two labels that look the
//! same differ.

/// The name of `c` if it is a bidirectional control or an invisible
/// (zero-width or default-ignorable format) character; `None` otherwise.
pub(crate) fn deceptive(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{115F}' => "HANGUL CHOSEONG FILLER",
        '\u{1160}' => "HANGUL JUNGSEONG FILLER",
        '\u{17B4}' => "KHMER VOWEL INHERENT AQ",
        '\u{17B5}' => "KHMER VOWEL INHERENT AA",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}' => "FUNCTION APPLICATION",
        '\u{2062}' => "INVISIBLE TIMES",
        '\u{2063}' => "INVISIBLE SEPARATOR",
        '\u{2064}' => "INVISIBLE PLUS",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{206A}'..='\u{206F}' => "DEPRECATED FORMAT CHARACTER",
        '\u{3164}' => "HANGUL FILLER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{FFA0}' => "HALFWIDTH HANGUL FILLER",
        '\u{FFF9}'..='\u{FFFB}' => "INTERLINEAR ANNOTATION CHARACTER",
        _ => return None,
    })
}

/// Checks a label or note called `what` (e.g. "customer label"): trimmed,
/// not empty when `required`, at most `max` characters, and free of control
/// and [`deceptive`] characters. The error is a sentence for the person who
/// typed it.
pub(crate) fn check(text: &str, max: usize, what: &str, required: bool) -> Result<String, String> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(format!("The {what} is required."));
    }
    if text.chars().count() > max {
        return Err(format!("The {what} is longer than {max} characters."));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "The {what} contains control characters (such as line breaks)."
        ));
    }
    if let Some((c, name)) = text.chars().find_map(|c| deceptive(c).map(|n| (c, n))) {
        return Err(format!(
            "The {what} contains U+{:04X} {name}, an invisible character that can make \
             text read differently from what it is. Type the {what} again without it.",
            u32::from(c)
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_any_script_pass() {
        for good in [
            "Contoso",
            "Müller & Söhne GmbH",
            "株式会社テスト",
            "שלום",
            "شركة",
            "Ελλάδα",
        ] {
            assert_eq!(check(good, 100, "label", true).as_deref(), Ok(good));
        }
        assert_eq!(
            check("  Contoso  ", 100, "label", true).as_deref(),
            Ok("Contoso")
        );
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_named() {
        let err = check("Contoso\u{202E}gnp.exe", 100, "customer label", true).unwrap_err();
        assert!(err.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{err}");
        assert!(err.contains("customer label again"), "{err}");
        for c in [
            '\u{200B}', '\u{200D}', '\u{2066}', '\u{FEFF}', '\u{061C}', '\u{206A}',
        ] {
            let text = format!("Con{c}toso");
            assert!(
                check(&text, 100, "label", true).is_err(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn control_characters_length_and_emptiness() {
        assert!(check("a\nb", 100, "note", false).is_err());
        assert!(check("a\u{85}b", 100, "note", false).is_err());
        assert!(check("", 100, "note", false).is_ok());
        assert_eq!(
            check(" ", 100, "label", true),
            Err("The label is required.".to_owned())
        );
        assert!(check(&"x".repeat(101), 100, "label", true).is_err());
    }
}
