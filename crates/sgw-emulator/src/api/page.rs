//! Pagination (aws-sgw.md §2.4): `Limit` (default and most 100) and an opaque `Marker`, present
//! only when more results exist.
//!
//! A marker names the last key of the page it ends, so a list that changes between calls
//! neither repeats nor skips what stayed (an index would). It is hex, so a caller cannot
//! mistake it for a barcode or an ARN.

use super::error::ApiError;

/// Page size when `Limit` is absent, and the most one page holds ("up to 100").
pub(crate) const MAX_PAGE: usize = 100;

/// One page of `items` (sorted by key, keys unique): those after `marker`, at most `limit`,
/// and the marker of the next page if more remain.
pub(crate) fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    marker: Option<&str>,
    limit: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = marker.map(decode).transpose()?;
    let size = limit
        .and_then(|l| usize::try_from(l).ok())
        .map_or(MAX_PAGE, |l| l.clamp(1, MAX_PAGE));
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| after.as_deref().is_none_or(|a| key.as_str() > a))
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < size {
        let Some((key, item)) = rest.next() else {
            break;
        };
        out.push(item);
        last = Some(key);
    }
    let next = match (rest.peek(), last) {
        (Some(_), Some(last)) => Some(encode(&last)),
        _ => None,
    };
    Ok((out, next))
}

fn encode(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode(marker: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid_parameters(format!(
            "The specified marker {marker:?} is not one this gateway returned; start again without a Marker."
        ))
    };
    if !marker.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..marker.len())
        .step_by(2)
        .map(|i| {
            marker
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("K{i:03}"), i)).collect()
    }

    #[test]
    fn pages_cover_everything_once() {
        for (n, limit) in [
            (0, None),
            (1, Some(1)),
            (5, Some(2)),
            (250, None),
            (7, Some(1000)),
        ] {
            let mut seen = Vec::new();
            let mut marker = None;
            loop {
                let (items, next) = page(keys(n), marker.as_deref(), limit).unwrap();
                assert!(items.len() <= MAX_PAGE);
                seen.extend(items);
                match next {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n={n} limit={limit:?}");
        }
    }

    #[test]
    fn last_page_has_no_marker() {
        let (items, next) = page(keys(2), None, Some(2)).unwrap();
        assert_eq!(items, vec![0, 1]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_marker_survives_removal_of_what_it_names() {
        let (_, next) = page(keys(4), None, Some(2)).unwrap();
        let mut shrunk = keys(4);
        shrunk.remove(1);
        let (items, _) = page(shrunk, next.as_deref(), Some(2)).unwrap();
        assert_eq!(items, vec![2, 3]);
    }

    #[test]
    fn foreign_markers_are_refused() {
        for m in ["1", "zz", "page2", "ff"] {
            let e = page(keys(3), Some(m), None).unwrap_err();
            assert_eq!(e.code, Some("InvalidParameters"), "{m}");
        }
    }
}
