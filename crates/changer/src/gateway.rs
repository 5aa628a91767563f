//! A library behind an AWS Storage Gateway (contract C7): its `[library.gateway]`,
//! `[library.export]` and `[[library.new_tapes]]` tables, and the decisions that need no AWS
//! call — the export policy, the health thresholds, and direct mode's refusal. The AWS side
//! lives in `changerd` (crate `sgw`); `changer` never links the SDK.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ops::{Export, ExportGuard};

/// `[library.gateway]`: the gateway behind a library.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// `arn:aws:storagegateway:REGION:ACCOUNT:gateway/sgw-…`.
    pub gateway_arn: String,
    /// AWS region of the gateway.
    pub region: String,
    /// Another endpoint than AWS's (the project's emulator in tests and the demo).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Exports are refused while the gateway's cache holds more than this share of data not
    /// yet uploaded (percent; AWS's own alarm is at 80).
    #[serde(default = "default_max_cache_dirty")]
    pub max_cache_dirty_percent: f64,
    /// Exports are refused while the upload buffer is fuller than this (percent).
    #[serde(default = "default_max_upload_buffer")]
    pub max_upload_buffer_percent: f64,
    /// Seconds between health checks (3 API calls each).
    #[serde(default = "default_health_interval")]
    pub health_interval: f64,
    /// Seconds between full reads of the gateway's tape list (one call per 100 tapes), which
    /// the low-water mark counts from.
    #[serde(default = "default_tapes_interval")]
    pub tapes_interval: f64,
    /// Seconds before the first look at a tape whose status is changing (an export, a
    /// retrieval, new tapes); the pause doubles up to `follow_max_interval`.
    #[serde(default = "default_follow_interval")]
    pub follow_interval: f64,
    /// Longest pause between two looks at a changing tape, seconds.
    #[serde(default = "default_follow_max_interval")]
    pub follow_max_interval: f64,
    /// Move retrieved and new tapes from the import/export slots into free storage slots.
    #[serde(default = "yes")]
    pub import: bool,
    /// The Bareos Storage resource of this library, for the hooks' `update slots`.
    #[serde(default)]
    pub bareos_storage: Option<String>,
    /// Shell command run after retrieved tapes were imported. Default (when `bareos_storage` is
    /// set): bconsole marks each volume Read-Only, then `update slots`.
    #[serde(default)]
    pub retrieved_hook: Option<String>,
    /// Shell command run after new tapes were imported. Default (when `bareos_storage` is set):
    /// bconsole `update slots` (and `label barcodes` when a rule asks for it).
    #[serde(default)]
    pub created_hook: Option<String>,
    /// Seconds a hook may run before it is killed.
    #[serde(default = "default_hook_timeout")]
    pub hook_timeout: f64,
}

fn default_max_cache_dirty() -> f64 {
    80.0
}
fn default_max_upload_buffer() -> f64 {
    90.0
}
fn default_health_interval() -> f64 {
    60.0
}
fn default_tapes_interval() -> f64 {
    600.0
}
fn default_follow_interval() -> f64 {
    10.0
}
fn default_follow_max_interval() -> f64 {
    300.0
}
fn default_hook_timeout() -> f64 {
    120.0
}
fn yes() -> bool {
    true
}

impl GatewayConfig {
    /// A configured number of seconds as a duration (negative or absurd values are clamped to
    /// 10 ms … 1 day: a poll loop must neither spin nor stop).
    pub fn seconds(value: f64) -> Duration {
        Duration::from_secs_f64(value.clamp(0.01, 86_400.0))
    }

    /// The hook for retrieved tapes: the configured one, or the bconsole default when the
    /// Bareos storage is known.
    pub fn retrieved_hook(&self) -> Option<String> {
        self.retrieved_hook.clone().or_else(|| {
            self.bareos_storage.as_ref().map(|storage| {
                format!(
                    "{{ for b in $CHANGER_BARCODES; do echo \"update volume=$b volstatus=Read-Only\"; done; \
                     echo \"update slots storage={storage}\"; }} | bconsole"
                )
            })
        })
    }

    /// The hook for new tapes: the configured one, or the bconsole default.
    pub fn created_hook(&self, label: bool) -> Option<String> {
        self.created_hook.clone().or_else(|| {
            self.bareos_storage.as_ref().map(|storage| {
                let label = if label {
                    format!("; echo \"label barcodes storage={storage} slots=$CHANGER_SLOTS yes\"")
                } else {
                    String::new()
                };
                format!("{{ echo \"update slots storage={storage}\"{label}; }} | bconsole")
            })
        })
    }
}

/// `[library.export]`: which moves into import/export slots (archivals) are allowed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// `allow`, `deny` (the default) or `listed`.
    pub policy: ExportPolicy,
    /// For `listed`: barcode patterns (`*` any run, `?` one character), e.g. `["ARC*"]`.
    pub barcodes: Vec<String>,
}

/// The export policy.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExportPolicy {
    /// Every export archives.
    Allow,
    /// No export: archival is off until the admin decides (the default, since an export cannot
    /// be undone once the tape is past IN TRANSIT TO VTS).
    #[default]
    Deny,
    /// Only barcodes matching `barcodes`.
    Listed,
}

impl ExportConfig {
    /// Whether the policy allows archiving a tape: `Ok(reason)` or `Err(reason)`, in words
    /// that name the setting to change.
    pub fn decide(&self, barcode: Option<&str>) -> Result<String, String> {
        match self.policy {
            ExportPolicy::Allow => Ok("export policy allow".into()),
            ExportPolicy::Deny => Err(
                "the export policy is deny (set [library.export] policy = \"allow\" or \"listed\" to archive)"
                    .into(),
            ),
            ExportPolicy::Listed => {
                let Some(barcode) = barcode else {
                    return Err(
                        "the export policy is listed and the cartridge has no barcode".into(),
                    );
                };
                match self.barcodes.iter().find(|p| glob(p, barcode)) {
                    Some(p) => Ok(format!("export policy listed, {barcode} matches {p}")),
                    None => Err(format!(
                        "{barcode} matches none of the export policy's barcodes ({})",
                        if self.barcodes.is_empty() {
                            "the list is empty".to_owned()
                        } else {
                            self.barcodes.join(", ")
                        }
                    )),
                }
            }
        }
    }
}

/// `*` matches any run of characters, `?` one; everything else itself (barcodes are ASCII).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Backtrack: let the last star swallow one more character.
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `[[library.new_tapes]]`: keep at least `min_available` writable tapes of a barcode prefix in
/// the storage slots, creating and importing new ones when fewer are there.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewTapesRule {
    /// 1–4 capital letters: CreateTapes' `TapeBarcodePrefix`; the gateway adds the rest.
    pub barcode_prefix: String,
    /// Fewest AVAILABLE tapes with this prefix in storage slots.
    pub min_available: u16,
    /// Size of a new tape in GiB (the gateway takes 100 GiB to 5 TiB).
    #[serde(default = "default_size_gib")]
    pub size_gib: u64,
    /// `GLACIER`, `DEEP_ARCHIVE`, or a custom pool's ARN.
    #[serde(default)]
    pub pool: Option<String>,
    /// Have the hook label the new tapes (bconsole `label barcodes`).
    #[serde(default)]
    pub label: bool,
}

fn default_size_gib() -> u64 {
    100
}

impl NewTapesRule {
    /// The rule's own problems, in words naming the key.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.barcode_prefix;
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "new_tapes barcode_prefix {p:?} must be 1 to 4 capital letters (A-Z)"
            ));
        }
        if !(100..=5 * 1024).contains(&self.size_gib) {
            return Err(format!(
                "new_tapes size_gib {} is outside the gateway's 100 to 5120 GiB",
                self.size_gib
            ));
        }
        Ok(())
    }
}

/// Direct mode's guard for a library: the refusal when it is a gateway library.
pub fn direct_guard(
    config: &crate::config::Config,
    device: &str,
    serial: Option<&str>,
) -> Option<Box<dyn ExportGuard>> {
    config
        .library(device, serial)
        .filter(|l| l.gateway.is_some())
        .map(|_| {
            Box::new(DirectRefusal {
                device: device.to_owned(),
            }) as Box<dyn ExportGuard>
        })
}

/// Direct mode on a gateway library: every export is refused, since only the daemon checks the
/// policy and follows the archival (C7).
#[derive(Debug)]
pub struct DirectRefusal {
    /// The library as named.
    pub device: String,
}

impl ExportGuard for DirectRefusal {
    fn check(&mut self, export: &Export) -> Result<(), String> {
        Err(format!(
            "refused: {device} is an AWS Storage Gateway library and moving {tape} into import/export slot {slot} \
             archives it; only changerd may do that (start changerd, which checks the export policy)",
            device = self.device,
            tape = export.barcode.as_deref().unwrap_or("the cartridge"),
            slot = export.to,
        ))
    }

    fn exported(&mut self, _: &Export, _: Result<(), String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell_pattern() {
        let cases = [
            ("ARC*", "ARC00001", true),
            ("ARC*", "AR00001", false),
            ("*", "", true),
            ("A?C*", "ABC1", true),
            ("A*1", "A0001", true),
            ("A*1", "A0002", false),
            ("EXACT1", "EXACT1", true),
            ("EXACT1", "EXACT12", false),
            ("*X*Y", "AXBXCY", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn export_policy_decides_by_barcode() {
        let listed = ExportConfig {
            policy: ExportPolicy::Listed,
            barcodes: vec!["ARC*".into(), "KEEP01".into()],
        };
        assert!(listed.decide(Some("ARC123")).is_ok());
        assert!(listed.decide(Some("KEEP01")).is_ok());
        let refused = listed.decide(Some("DAY001")).unwrap_err();
        assert!(
            refused.contains("DAY001") && refused.contains("ARC*"),
            "{refused}"
        );
        assert!(listed.decide(None).is_err());
        assert!(ExportConfig::default().decide(Some("X")).is_err());
        let allow = ExportConfig {
            policy: ExportPolicy::Allow,
            barcodes: vec![],
        };
        assert!(allow.decide(None).is_ok());
    }

    #[test]
    fn new_tape_rules_are_checked_as_the_api_would() {
        let rule = |p: &str, size| NewTapesRule {
            barcode_prefix: p.into(),
            min_available: 2,
            size_gib: size,
            pool: None,
            label: false,
        };
        assert!(rule("BAR", 100).check().is_ok());
        assert!(rule("", 100).check().is_err());
        assert!(rule("ABCDE", 100).check().is_err());
        assert!(rule("ab", 100).check().is_err());
        assert!(rule("AB", 99).check().is_err());
    }

    #[test]
    fn direct_mode_refuses_with_one_line_naming_the_tape() {
        let mut guard = DirectRefusal {
            device: "sim:/x".into(),
        };
        let msg = guard
            .check(&Export {
                barcode: Some("AMZN01".into()),
                from: "slot 3".into(),
                to: scsi_changer::address::SlotNumber(1601),
            })
            .unwrap_err();
        assert!(
            !msg.contains('\n') && msg.contains("AMZN01") && msg.contains("1601"),
            "{msg}"
        );
    }
}
