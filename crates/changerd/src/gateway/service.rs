//! The gateway requests of `changer`: `tapes`, `retrieve`, `cancel-archival`.

use std::collections::BTreeMap;

use changer_proto::{LibraryStatus, TapeEntry};
use sgw::TapeStatus;

use super::{Link, Purpose};

/// Where each barcode sits in the library: `drive:N`, `slot:N`, `ie:N` (Bareos' numbers).
pub fn locations(status: &LibraryStatus) -> BTreeMap<String, String> {
    let mut at = BTreeMap::new();
    for d in &status.drives {
        if let Some(b) = &d.barcode {
            at.insert(b.clone(), format!("drive:{}", d.index));
        }
    }
    for s in &status.slots {
        if let Some(b) = &s.barcode {
            let kind = if s.kind == "storage" { "slot" } else { "ie" };
            at.insert(b.clone(), format!("{kind}:{}", s.slot));
        }
    }
    at
}

/// A tape of the gateway's library as `changer tapes` shows it.
fn vtl_entry(t: sgw::Tape, location: Option<String>) -> TapeEntry {
    TapeEntry {
        status: Some(t.status.as_str().to_owned()),
        barcode: t.barcode,
        location,
        pool: t.pool_id,
        size_used_bytes: t.used_bytes,
        size_bytes: Some(t.size_bytes),
        arn: Some(t.arn),
    }
}

/// A tape of the shelf as `changer tapes` shows it.
fn shelf_entry(a: sgw::TapeArchive, location: Option<String>) -> TapeEntry {
    TapeEntry {
        status: Some(a.status.as_str().to_owned()),
        barcode: a.barcode,
        location,
        pool: a.pool_id,
        size_used_bytes: a.used_bytes,
        size_bytes: Some(a.size_bytes),
        arn: Some(a.arn),
    }
}

impl Link {
    /// Every tape the gateway (its VTL: DescribeTapes; the shelf: DescribeTapeArchives) and
    /// the library know, by barcode.
    pub async fn tapes(&self, status: &LibraryStatus) -> Result<Vec<TapeEntry>, sgw::Error> {
        let vtl = self.gateway.describe_tapes(&[]).await?;
        self.remember(&vtl);
        let shelf = self.gateway.describe_tape_archives(&[]).await?;
        let mut at = locations(status);
        let mut entries: BTreeMap<String, TapeEntry> = BTreeMap::new();
        for a in shelf {
            // A retrieved tape is on the shelf and in a gateway's VTL: the VTL record (below)
            // wins for ours; one retrieved to another gateway stays "shelf".
            let location = match a.status {
                TapeStatus::Archived | TapeStatus::Retrieving => Some("shelf".to_owned()),
                _ => None,
            };
            entries.insert(a.barcode.clone(), shelf_entry(a, location));
        }
        for t in vtl {
            let location = at.remove(&t.barcode);
            entries.insert(t.barcode.clone(), vtl_entry(t, location));
        }
        // Cartridges in the library the gateway does not list (archived meanwhile, or not a
        // gateway tape at all): shown with what the shelf says, or no status.
        for (barcode, location) in at {
            entries
                .entry(barcode.clone())
                .and_modify(|e| e.location = Some(location.clone()))
                .or_insert(TapeEntry {
                    barcode,
                    status: None,
                    location: Some(location),
                    pool: None,
                    size_used_bytes: None,
                    size_bytes: None,
                    arn: None,
                });
        }
        Ok(entries.into_values().collect())
    }

    /// RetrieveTapeArchive for each barcode, found on the shelf; the follower imports them when
    /// they are RETRIEVED.
    pub async fn retrieve(&self, barcodes: &[String]) -> Result<Vec<TapeEntry>, String> {
        let shelf = self
            .gateway
            .describe_tape_archives(&[])
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for barcode in barcodes {
            let Some(archive) = shelf.iter().find(|a| &a.barcode == barcode) else {
                return Err(format!(
                    "{barcode} is not on the tape shelf (DescribeTapeArchives does not list it); nothing was retrieved after it"
                ));
            };
            if archive.status != TapeStatus::Archived {
                return Err(format!(
                    "{barcode} is {} on the shelf; only an ARCHIVED tape can be retrieved",
                    archive.status
                ));
            }
            self.gateway
                .retrieve_tape_archive(&archive.arn)
                .await
                .map_err(|e| format!("{barcode}: {e}"))?;
            tracing::warn!(serial = %self.serial, barcode, pool = archive.pool_id.as_deref().unwrap_or(""), "retrieval started (billed; hours on AWS)");
            self.follow(
                archive.arn.clone(),
                barcode.clone(),
                TapeStatus::Retrieving,
                Purpose::Retrieve,
            );
            let mut entry = shelf_entry(archive.clone(), Some("shelf".into()));
            entry.status = Some(TapeStatus::Retrieving.as_str().to_owned());
            out.push(entry);
        }
        Ok(out)
    }

    /// CancelArchival of a tape still IN TRANSIT TO VTS.
    pub async fn cancel_archival(
        &self,
        barcode: &str,
        status: &LibraryStatus,
    ) -> Result<Vec<TapeEntry>, String> {
        let tapes = self
            .gateway
            .describe_tapes(&[])
            .await
            .map_err(|e| e.to_string())?;
        self.remember(&tapes);
        let Some(tape) = tapes.into_iter().find(|t| t.barcode == barcode) else {
            return Err(format!(
                "the gateway's library does not list {barcode}: it is archived already, or not a tape of this gateway"
            ));
        };
        if tape.status != TapeStatus::InTransitToVts {
            return Err(format!(
                "{barcode} is {}; an archival can be cancelled only while the tape is IN TRANSIT TO VTS",
                tape.status
            ));
        }
        self.gateway
            .cancel_archival(&tape.arn)
            .await
            .map_err(|e| format!("{barcode}: {e}"))?;
        tracing::warn!(serial = %self.serial, barcode, "archival cancelled");
        let now = self
            .gateway
            .list_tapes(std::slice::from_ref(&tape.arn))
            .await
            .ok()
            .and_then(|infos| infos.into_iter().next())
            .map_or(TapeStatus::InTransitToVts, |i| i.status);
        self.follow(
            tape.arn.clone(),
            barcode.to_owned(),
            TapeStatus::InTransitToVts,
            Purpose::Cancel,
        );
        let location = locations(status).remove(barcode);
        let mut entry = vtl_entry(tape, location);
        entry.status = Some(now.as_str().to_owned());
        Ok(vec![entry])
    }
}
