//! The lines `mtx status` (mtx 1.3.12 `Status()`) prints for an inventory.
//!
//! The stock mtx-changer script turns these lines into Bareos' answers with awk. The protocol
//! module reproduces the script's rules on the same lines, so its output equals the script's
//! byte for byte — quirks included — except where contract C1 fixes a bug on purpose.

use scsi_changer::element::{ElementStatus, VolumeTag};
use scsi_changer::inventory::{HomeSlot, Inventory};

/// `  Storage Changer <device>:<D> Drives, <S+I> Slots ( <I> Import/Export )`.
pub fn header(device: &str, inv: &Inventory) -> String {
    format!(
        "  Storage Changer {}:{} Drives, {} Slots ( {} Import/Export )",
        device,
        inv.drives.len(),
        inv.slot_count(),
        inv.import_export.len()
    )
}

/// `Data Transfer Element <n>:Empty` or `…:Full (Storage Element <s> Loaded)[:VolumeTag = …]`.
/// A drive whose home is [`HomeSlot::Unknown`] prints as mtx does, `Unknown Storage Element`.
pub fn drive_line(index: usize, drive: &ElementStatus, home: HomeSlot) -> String {
    let mut line = format!("Data Transfer Element {index}:");
    if !drive.full {
        line.push_str("Empty");
        return line;
    }
    match home.slot() {
        Some(slot) => line.push_str(&format!("Full (Storage Element {slot} Loaded)")),
        None => line.push_str("Full (Unknown Storage Element Loaded)"),
    }
    push_tags(&mut line, drive, " = ");
    line
}

/// `      Storage Element <s>[ IMPORT/EXPORT]:Full |Empty[:VolumeTag=…][:AlternateVolumeTag=…]`.
pub fn slot_line(slot: u16, import_export: bool, element: &ElementStatus) -> String {
    let mut line = format!(
        "      Storage Element {slot}{}:{}",
        if import_export { " IMPORT/EXPORT" } else { "" },
        if element.full { "Full " } else { "Empty" }
    );
    push_tags(&mut line, element, "=");
    line
}

/// mtx prints a tag whenever its text (up to the first unprintable byte) is not empty: a
/// blank-padded tag on an empty slot prints, a NUL-filled one does not.
fn push_tags(line: &mut String, e: &ElementStatus, separator: &str) {
    let text = |t: &Option<VolumeTag>| {
        t.as_ref()
            .map(|t| t.mtx_text().to_owned())
            .filter(|s| !s.is_empty())
    };
    if let Some(tag) = text(&e.primary_volume_tag) {
        line.push_str(&format!(":VolumeTag{separator}{tag}"));
    }
    if let Some(tag) = text(&e.alternate_volume_tag) {
        line.push_str(&format!(":AlternateVolumeTag{separator}{tag}"));
    }
}

/// Every line of `mtx status` for the inventory: header, drives, then slots.
pub fn status_lines(device: &str, inv: &Inventory) -> Vec<String> {
    let homes = inv.home_slots();
    let mut lines = vec![header(device, inv)];
    lines.extend(
        inv.drives
            .iter()
            .zip(&homes)
            .enumerate()
            .map(|(i, (d, h))| drive_line(i, d, *h)),
    );
    lines.extend(slot_lines(inv));
    lines
}

/// The storage and import/export lines, slot 1 first, one at a time (a 3200-slot library's
/// lines are never all held at once).
pub fn slot_lines(inv: &Inventory) -> impl Iterator<Item = String> + '_ {
    let storage = inv.storage.iter().map(|e| (false, e));
    let ie = inv.import_export.iter().map(|e| (true, e));
    storage
        .chain(ie)
        .enumerate()
        .map(|(i, (is_ie, e))| slot_line(u16::try_from(i + 1).unwrap_or(u16::MAX), is_ie, e))
}
