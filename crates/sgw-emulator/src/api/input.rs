//! Reading an operation's input: JSON into a typed request (members by name, in any order, as
//! the SDK serializes them in model order), then the model's constraints, reported as AWS
//! reports them (`1 validation error detected: Value 'x' at 'tapeBarcode' failed to satisfy
//! constraint: …`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// The body as the operation's input type. Unknown members are ignored, as AWS does; a member
/// of the wrong JSON type is a SerializationException.
pub(crate) fn parse<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::serialization(format!("cannot read the request body: {e}")))
}

/// Collects constraint violations, then answers all of them at once.
#[derive(Debug, Default)]
pub(crate) struct Check {
    problems: Vec<String>,
}

impl Check {
    /// A required member; `None` when missing (and noted).
    pub fn required<'a, T>(&mut self, member: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.problems.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
        value.as_ref()
    }

    /// A string's length in `min..=max`.
    pub fn length(&mut self, member: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.fail(
                member,
                value,
                &format!("Member must have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                member,
                value,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// A string made only of `allowed` characters (the model's `^[…]*$` patterns).
    pub fn pattern(&mut self, member: &str, value: &str, pattern: &str, allowed: fn(u8) -> bool) {
        if !value.bytes().all(allowed) {
            self.fail(
                member,
                value,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// A string that `ok` accepts (shapes no character class describes, like ARNs).
    pub fn shape(&mut self, member: &str, value: &str, pattern: &str, ok: bool) {
        if !ok {
            self.fail(
                member,
                value,
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// A number in `min..=max`.
    pub fn range(&mut self, member: &str, value: i64, min: i64, max: Option<i64>) {
        if value < min {
            self.fail(
                member,
                &value.to_string(),
                &format!("Member must have value greater than or equal to {min}"),
            );
        } else if let Some(max) = max.filter(|m| value > *m) {
            self.fail(
                member,
                &value.to_string(),
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    fn fail(&mut self, member: &str, value: &str, constraint: &str) {
        self.problems.push(format!(
            "Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Every member checked: a ValidationException naming all violations, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(&self.problems))
        }
    }
}

/// `ARN` members: 50–500 characters (model `GatewayARN`, `TapeARN`, `VTLDeviceARN`).
pub(crate) fn arn(check: &mut Check, member: &str, value: &str) {
    check.length(member, value, 50, 500);
}

/// A `TapeARN`: the length, then the shape.
pub(crate) fn tape_arn(check: &mut Check, member: &str, value: &str) {
    arn(check, member, value);
    check.shape(
        member,
        value,
        r"^arn:(aws(|-cn|-us-gov|-iso[A-Za-z0-9_-]*)):storagegateway:[a-z\-0-9]+:[0-9]+:tape\/[0-9A-Z]{5,16}$",
        crate::gateway::is_tape_arn(value),
    );
}

/// A list of TapeARNs (members named `tapeARNs.1.member`, … as AWS names them).
pub(crate) fn tape_arns(check: &mut Check, member: &str, values: &[String]) {
    for (i, value) in values.iter().enumerate() {
        tape_arn(check, &format!("{member}.{}.member", i + 1), value);
    }
}

/// `Marker` (1–2000) and `Limit` (≥ 1) of a paginated list.
pub(crate) fn page(check: &mut Check, marker: Option<&str>, limit: Option<i64>) {
    if let Some(m) = marker {
        check.length("marker", m, 1, 2000);
    }
    if let Some(l) = limit {
        check.range("limit", l, 1, None);
    }
}

/// `TapeBarcode`: 5–16 of `A-Z0-9`.
pub(crate) fn barcode(check: &mut Check, member: &str, value: &str) {
    check.length(member, value, 5, 16);
    check.pattern(member, value, "^[A-Z0-9]*$", |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit()
    });
}

/// `PoolId`: 1–100 characters.
pub(crate) fn pool_id(check: &mut Check, value: Option<&str>) {
    if let Some(p) = value {
        check.length("poolId", p, 1, 100);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_violation_reads_like_aws() {
        let mut c = Check::default();
        barcode(&mut c, "tapeBarcode", "ab123");
        let e = c.finish().unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'ab123' at 'tapeBarcode' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^[A-Z0-9]*$"
        );
    }

    #[test]
    fn every_violation_is_reported() {
        let mut c = Check::default();
        let missing: Option<String> = None;
        c.required("gatewayARN", &missing);
        c.range("numTapesToCreate", 11, 1, Some(10));
        c.length("clientToken", "abc", 5, 100);
        let e = c.finish().unwrap_err();
        assert!(
            e.message.starts_with("3 validation errors detected: "),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Value null at 'gatewayARN'"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("less than or equal to 10"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("greater than or equal to 5"),
            "{}",
            e.message
        );
    }

    #[test]
    fn wrong_json_types_are_serialization_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct In {
            #[serde(rename = "Limit")]
            limit: Option<i64>,
        }
        let e = parse::<In>(serde_json::json!({"Limit": "ten"})).unwrap_err();
        assert_eq!(e.body()["__type"], "SerializationException");
        assert!(parse::<In>(serde_json::json!({"Other": 1})).is_ok());
    }
}
