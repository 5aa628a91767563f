//! The emulated gateway's names: its ARN and id, and the ARNs derived from them (tapes, VTL
//! devices, iSCSI targets), as aws-sgw.md §1.1 describes them.

/// The identity of the one gateway an emulator is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gateway {
    /// `arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B`.
    pub arn: String,
    /// `sgw-12A3456B`.
    pub id: String,
    /// `aws`.
    pub partition: String,
    /// The region of tape ARNs.
    pub region: String,
    /// `111122223333`.
    pub account: String,
}

/// Why a gateway ARN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "gateway ARN {arn:?} is not arn:<partition>:storagegateway:<region>:<account>:gateway/<id>: {why}"
)]
pub struct GatewayArnError {
    arn: String,
    why: &'static str,
}

/// The medium changer's and the drives' identities (aws-sgw.md §1.1).
pub(crate) const CHANGER_VENDOR: &str = "STK";
pub(crate) const CHANGER_PRODUCT: &str = "L700";
pub(crate) const DRIVE_VENDOR: &str = "IBM";
pub(crate) const DRIVE_PRODUCT: &str = "ULT3580-TD5";
/// A Tape Gateway has 10 drives.
pub(crate) const DRIVES: u16 = 10;

impl Gateway {
    /// Parses `arn`; `region` overrides the ARN's region in tape ARNs.
    pub fn parse(arn: &str, region: Option<&str>) -> Result<Gateway, GatewayArnError> {
        let fail = |why| GatewayArnError {
            arn: arn.to_owned(),
            why,
        };
        // The model bounds every ARN to 50–500 characters; an SDK would send nothing shorter.
        if !(50..=500).contains(&arn.len()) {
            return Err(fail("an ARN has 50 to 500 characters"));
        }
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [scheme, partition, service, arn_region, account, resource] = parts[..] else {
            return Err(fail("it does not have six `:`-separated parts"));
        };
        if scheme != "arn" || service != "storagegateway" {
            return Err(fail("it is not a Storage Gateway ARN"));
        }
        let Some(id) = resource.strip_prefix("gateway/") else {
            return Err(fail("the resource is not gateway/<id>"));
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !word(partition) || !word(arn_region) || !word(id) {
            return Err(fail("partition, region and id are letters, digits and `-`"));
        }
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the account is digits"));
        }
        Ok(Gateway {
            arn: arn.to_owned(),
            id: id.to_owned(),
            partition: partition.to_owned(),
            region: region.unwrap_or(arn_region).to_owned(),
            account: account.to_owned(),
        })
    }

    /// `arn:aws:storagegateway:<region>:<account>:tape/<barcode>`.
    pub fn tape_arn(&self, barcode: &str) -> String {
        format!(
            "arn:{}:storagegateway:{}:{}:tape/{barcode}",
            self.partition, self.region, self.account
        )
    }

    /// The barcode a tape ARN of this account and region names; `None` for any other ARN.
    pub fn barcode_of<'a>(&self, tape_arn: &'a str) -> Option<&'a str> {
        let prefix = self.tape_arn("");
        tape_arn.strip_prefix(prefix.as_str())
    }

    /// The medium changer's device ARN.
    pub fn changer_arn(&self) -> String {
        format!(
            "{}/device/AMZN_{}_MEDIACHANGER_00001",
            self.arn,
            self.id.to_uppercase()
        )
    }

    /// Drive `n`'s device ARN, `n` in 1..=10.
    pub fn drive_arn(&self, n: u16) -> String {
        format!(
            "{}/device/AMZN_{}_TAPEDRIVE_{n:05}",
            self.arn,
            self.id.to_uppercase()
        )
    }

    /// The iSCSI target ARN whose IQN ends in `suffix` (`mediachanger`, `tapedrive-01`, …):
    /// the join key between an API device and `/dev/tape/by-path/*`.
    pub fn target_arn(&self, suffix: &str) -> String {
        format!(
            "{}/target/iqn.1997-05.com.amazon:{}-{suffix}",
            self.arn,
            self.id.to_lowercase()
        )
    }
}

/// AWS's tape ARN shape (model `TapeARN`): `arn:…:storagegateway:<region>:<account>:tape/`
/// then 5–16 of `0-9A-Z`. Only the parts an SDK user could get wrong are checked.
pub(crate) fn is_tape_arn(s: &str) -> bool {
    s.starts_with("arn:aws")
        && s.contains(":storagegateway:")
        && s.rsplit_once(":tape/")
            .is_some_and(|(_, barcode)| crate::options::is_barcode(barcode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DEFAULT_GATEWAY_ARN;

    #[test]
    fn default_gateway_names_follow_aws() {
        let g = Gateway::parse(DEFAULT_GATEWAY_ARN, None).unwrap();
        assert_eq!(g.id, "sgw-12A3456B");
        assert_eq!(
            g.tape_arn("AB123456"),
            "arn:aws:storagegateway:us-east-1:111122223333:tape/AB123456"
        );
        assert_eq!(
            g.barcode_of("arn:aws:storagegateway:us-east-1:111122223333:tape/AB123456"),
            Some("AB123456")
        );
        assert_eq!(
            g.barcode_of("arn:aws:storagegateway:eu-west-1:111122223333:tape/AB123456"),
            None
        );
        assert_eq!(
            g.drive_arn(10),
            format!("{DEFAULT_GATEWAY_ARN}/device/AMZN_SGW-12A3456B_TAPEDRIVE_00010")
        );
        assert_eq!(
            g.target_arn("tapedrive-01"),
            format!(
                "{DEFAULT_GATEWAY_ARN}/target/iqn.1997-05.com.amazon:sgw-12a3456b-tapedrive-01"
            )
        );
    }

    #[test]
    fn region_override_changes_tape_arns_only() {
        let g = Gateway::parse(DEFAULT_GATEWAY_ARN, Some("eu-west-1")).unwrap();
        assert_eq!(g.arn, DEFAULT_GATEWAY_ARN);
        assert!(g.tape_arn("AB123").contains(":eu-west-1:"));
    }

    #[test]
    fn bad_gateway_arns_are_refused() {
        let cases = [
            "arn:aws:storagegateway:us-east-1:111122223333:gateway/",
            "arn:aws:s3:us-east-1:111122223333:gateway/sgw-12A3456B-xxxxxxxx",
            "arn:aws:storagegateway:us-east-1:1111222233x3:gateway/sgw-12A3456B",
            "arn:aws:storagegateway:us-east-1:111122223333:volume/sgw-12A3456B",
            "sgw-12A3456B",
        ];
        for arn in cases {
            assert!(Gateway::parse(arn, None).is_err(), "{arn}");
        }
    }

    #[test]
    fn tape_arn_shape() {
        let cases = [
            (
                "arn:aws:storagegateway:us-east-1:111122223333:tape/AB123",
                true,
            ),
            (
                "arn:aws:storagegateway:us-east-1:111122223333:tape/ab123",
                false,
            ),
            (
                "arn:aws:storagegateway:us-east-1:111122223333:tape/AB12",
                false,
            ),
            (
                "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-1",
                false,
            ),
            ("tape/AB123", false),
        ];
        for (arn, want) in cases {
            assert_eq!(is_tape_arn(arn), want, "{arn}");
        }
    }
}
