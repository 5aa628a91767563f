//! The stock script's awk programs (Bareos 25 `mtx-changer`, §3.5–3.7 of the protocol
//! reference), applied to mtx status lines. Each function reproduces one awk rule exactly,
//! including what it does to odd input (tags with blanks or colons, alternate tags), because
//! Bareos sites depend on the script's bytes.

/// awk `-F ":"` field `n` (1-based) of a line, or "" when absent.
fn colon_field(line: &str, n: usize) -> &str {
    line.split(':').nth(n - 1).unwrap_or("")
}

/// awk default field splitting: runs of blanks and tabs, leading ones ignored.
fn blank_field(line: &str, n: usize) -> &str {
    line.split([' ', '\t'])
        .filter(|f| !f.is_empty())
        .nth(n - 1)
        .unwrap_or("")
}

/// `gsub("[ ].*Storage Element ", "", $1)`: drops everything from the first blank that is
/// followed by `Storage Element ` up to the last `Storage Element `.
fn strip_storage_element(field: &str) -> String {
    const KEY: &str = "Storage Element ";
    let (Some(blank), Some(last)) = (field.find(' '), field.rfind(KEY)) else {
        return field.to_owned();
    };
    if last < blank {
        return field.to_owned();
    }
    format!("{}{}", &field[..blank], &field[last + KEY.len()..])
}

/// Whether a line matches `^ .*Storage Element .*[0-9]:` followed by `rest` (`.*Full` for
/// `list`, nothing for `listall`): a digit directly before a colon somewhere after the first
/// `Storage Element `, with `rest` after it.
fn matches_storage_rule(line: &str, rest: Option<&str>) -> bool {
    if !line.starts_with(' ') {
        return false;
    }
    let Some(key) = line[1..]
        .find("Storage Element ")
        .map(|k| k + 1 + "Storage Element ".len())
    else {
        return false;
    };
    let bytes = line.as_bytes();
    (key..bytes.len().saturating_sub(1)).any(|i| {
        bytes[i].is_ascii_digit()
            && bytes[i + 1] == b':'
            && rest.is_none_or(|r| line[i + 2..].contains(r))
    })
}

/// `list` pass 1: `/^ .*Storage Element .*[0-9]:.*Full/` → `$1 ":" $3` with `VolumeTag=`
/// removed and trailing blanks stripped.
pub fn list_slot(line: &str) -> Option<String> {
    if !matches_storage_rule(line, Some("Full")) {
        return None;
    }
    let slot = strip_storage_element(colon_field(line, 1));
    let tag = colon_field(line, 3).replace("VolumeTag=", "");
    Some(format!("{slot}:{}", tag.trim_end_matches(' ')))
}

/// `list` pass 2: `/^Data Transfer Element [0-9]*:Full \(Storage Element [0-9]/` →
/// `$7 ":" $10` on blank-separated fields (so a tag with a blank keeps its first word).
pub fn list_drive(line: &str) -> Option<String> {
    let rest = line.strip_prefix("Data Transfer Element ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest[digits..].strip_prefix(":Full (Storage Element ")?;
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}:{}",
        blank_field(line, 7),
        blank_field(line, 10)
    ))
}

/// `listall` drives: `/^Data Transfer Element .*[0-9]:/`.
pub fn listall_drive(line: &str) -> Option<String> {
    let rest = line.strip_prefix("Data Transfer Element ")?;
    let b = rest.as_bytes();
    if !(0..b.len().saturating_sub(1)).any(|i| b[i].is_ascii_digit() && b[i + 1] == b':') {
        return None;
    }
    let drive = colon_field(line, 1).replace("Data Transfer Element ", "");
    let state = colon_field(line, 2);
    // match($2, /Full \(Storage Element ([0-9]{1,}) Loaded\)/)
    let loaded_from = state
        .match_indices("Full (Storage Element ")
        .find_map(|(i, m)| {
            let after = &state[i + m.len()..];
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            (n > 0 && after[n..].starts_with(" Loaded)")).then(|| after[..n].to_owned())
        });
    let f = match loaded_from {
        Some(slot) => format!(":F:{slot}"),
        None => state.to_owned(),
    }
    .replace("Empty", ":E");
    let tag = colon_field(line, 3).replace("VolumeTag = ", ":");
    Some(format!("D:{drive}{f}{tag}"))
}

/// `listall` storage slots: `/^ .*Storage Element .*[0-9]:/` → `"S:" $1 $2 $3`.
pub fn listall_storage(line: &str) -> Option<String> {
    if !matches_storage_rule(line, None) {
        return None;
    }
    let slot = strip_storage_element(colon_field(line, 1));
    Some(format!(
        "S:{slot}{}{}",
        state_field(colon_field(line, 2)),
        colon_field(line, 3).replace("VolumeTag=", ":")
    ))
}

/// `listall` import/export slots: `/^ .*Storage Element .*[0-9] IMPORT\/EXPORT:/`.
pub fn listall_import_export(line: &str) -> Option<String> {
    if !line.starts_with(' ') || !line.contains("Storage Element ") {
        return None;
    }
    let key = line.find("Storage Element ")? + "Storage Element ".len();
    let b = line.as_bytes();
    let needle = " IMPORT/EXPORT:";
    let hit = line[key..]
        .match_indices(needle)
        .any(|(i, _)| i > 0 && b[key + i - 1].is_ascii_digit());
    if !hit {
        return None;
    }
    let slot = strip_storage_element(colon_field(line, 1)).replace(" IMPORT/EXPORT", "");
    Some(format!(
        "I:{slot}{}{}",
        state_field(colon_field(line, 2)),
        colon_field(line, 3).replace("VolumeTag=", ":")
    ))
}

/// `gsub("Full ", ":F", $2); gsub("Empty", ":E", $2)`.
fn state_field(field: &str) -> String {
    field.replace("Full ", ":F").replace("Empty", ":E")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_slot_rules() {
        let pad = " ".repeat(24);
        let cases: Vec<(String, Option<&str>)> = vec![
            (
                format!("      Storage Element 12:Full :VolumeTag=ABC123L6{pad}"),
                Some("12:ABC123L6"),
            ),
            ("      Storage Element 7:Full ".into(), Some("7:")),
            ("      Storage Element 5:Empty".into(), None),
            (
                "      Storage Element 25 IMPORT/EXPORT:Full :VolumeTag=X".into(),
                None,
            ),
            (
                "      Storage Element 4:Full :VolumeTag=TAPE 004".into(),
                Some("4:TAPE 004"),
            ),
            (
                "      Storage Element 8:Full :VolumeTag=NOPAD08L6:AlternateVolumeTag=ALT08".into(),
                Some("8:NOPAD08L6"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(list_slot(&line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn list_drive_keeps_first_word_of_tag() {
        assert_eq!(
            list_drive(
                "Data Transfer Element 0:Full (Storage Element 6 Loaded):VolumeTag = LAB 0042   "
            )
            .as_deref(),
            Some("6:LAB")
        );
        assert_eq!(
            list_drive("Data Transfer Element 0:Full (Storage Element 3 Loaded)").as_deref(),
            Some("3:")
        );
        assert_eq!(
            list_drive("Data Transfer Element 0:Full (Unknown Storage Element Loaded)"),
            None
        );
        assert_eq!(list_drive("Data Transfer Element 0:Empty"), None);
    }

    #[test]
    fn listall_rules() {
        assert_eq!(
            listall_drive("Data Transfer Element 0:Empty").as_deref(),
            Some("D:0:E")
        );
        assert_eq!(
            listall_drive("Data Transfer Element 1:Full (Storage Element 3 Loaded)").as_deref(),
            Some("D:1:F:3")
        );
        assert_eq!(
            listall_storage("      Storage Element 3:Empty:VolumeTag=    ").as_deref(),
            Some("S:3:E:    ")
        );
        assert_eq!(
            listall_storage("      Storage Element 7:Full ").as_deref(),
            Some("S:7:F")
        );
        // The script's bogus extra line for an unpadded I/E tag followed by an alternate tag.
        let line = "      Storage Element 14 IMPORT/EXPORT:Full :VolumeTag=IE0014L6:AlternateVolumeTag=ALT0014";
        assert_eq!(
            listall_storage(line).as_deref(),
            Some("S:14 IMPORT/EXPORT:F:IE0014L6")
        );
        assert_eq!(
            listall_import_export(line).as_deref(),
            Some("I:14:F:IE0014L6")
        );
        assert_eq!(
            listall_import_export("      Storage Element 26 IMPORT/EXPORT:Empty").as_deref(),
            Some("I:26:E")
        );
    }
}
