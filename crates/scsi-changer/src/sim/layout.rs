//! Element addresses of a simulated library. `mtx status` text has none, so they are made up
//! (contract C3): transport 1, drive n at 500+n, storage slot n at 1000+n−1, the first I/E slot
//! at 10 + its mtx slot number; when those ranges overlap or leave 16 bits (large libraries),
//! storage starts at 10000 and I/E at 20000. `# sim: addresses`, `# sim: drive N address=`
//! and `# sim: slot N address=` override them.

use super::directives::Bases;

/// Where an element lives in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Loc {
    /// The medium transport (robot).
    Transport,
    /// Drive by index.
    Drive(usize),
    /// Slot by index (mtx slot number − 1).
    Slot(usize),
}

impl Loc {
    pub fn describe(self) -> String {
        match self {
            Loc::Transport => "the medium transport".into(),
            Loc::Drive(i) => format!("drive {i}"),
            Loc::Slot(i) => format!("slot {}", i + 1),
        }
    }
}

/// Addresses of every element, and the reverse map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub transport: u16,
    pub drives: Vec<u16>,
    pub slots: Vec<u16>,
    /// Every element, by increasing address.
    sorted: Vec<(u16, Loc)>,
}

/// What decides the addresses, with the file lines that said it (for error messages).
#[derive(Debug, Clone, Default)]
pub(crate) struct LayoutInput<'a> {
    pub drives: usize,
    /// Whether each slot (in mtx order) is an import/export slot.
    pub slot_is_ie: &'a [bool],
    pub bases: Bases,
    pub bases_line: Option<usize>,
    /// (drive index, address, line)
    pub drive_addresses: Vec<(usize, u16, usize)>,
    /// (slot index, address, line)
    pub slot_addresses: Vec<(usize, u16, usize)>,
}

/// An address problem, and the line to blame (`None`: the header, i.e. the geometry).
pub(crate) type LayoutError = (Option<usize>, String);

impl Layout {
    pub fn compute(input: &LayoutInput<'_>) -> Result<Layout, LayoutError> {
        let d = input.drives;
        let s = input.slot_is_ie.iter().filter(|ie| !**ie).count();
        let i = input.slot_is_ie.len() - s;
        let first_ie_number = input
            .slot_is_ie
            .iter()
            .position(|ie| *ie)
            .map_or(s + 1, |p| p + 1);
        let bases = default_bases(d, s, i, first_ie_number, input.bases_line)?;
        let bases = overlay(bases, &input.bases);
        let explicit = |set: Option<u16>| set.and(input.bases_line);

        let mut decided: Vec<(u32, Loc, Option<usize>)> =
            Vec::with_capacity(1 + d + input.slot_is_ie.len());
        decided.push((
            u32::from(bases.transport),
            Loc::Transport,
            explicit(input.bases.transport),
        ));
        for n in 0..d {
            decided.push((
                u32::from(bases.drive) + n as u32,
                Loc::Drive(n),
                explicit(input.bases.drive),
            ));
        }
        let (mut storage_k, mut ie_k) = (0u32, 0u32);
        for (n, ie) in input.slot_is_ie.iter().enumerate() {
            let (address, line) = if *ie {
                ie_k += 1;
                (
                    u32::from(bases.import_export) + ie_k - 1,
                    explicit(input.bases.import_export),
                )
            } else {
                storage_k += 1;
                (
                    u32::from(bases.storage) + storage_k - 1,
                    explicit(input.bases.storage),
                )
            };
            decided.push((address, Loc::Slot(n), line));
        }
        for &(n, address, line) in &input.drive_addresses {
            if let Some(entry) = decided.iter_mut().find(|e| e.1 == Loc::Drive(n)) {
                *entry = (u32::from(address), Loc::Drive(n), Some(line));
            }
        }
        for &(n, address, line) in &input.slot_addresses {
            if let Some(entry) = decided.iter_mut().find(|e| e.1 == Loc::Slot(n)) {
                *entry = (u32::from(address), Loc::Slot(n), Some(line));
            }
        }
        Self::from_decided(decided, d, input.slot_is_ie.len())
    }

    fn from_decided(
        mut decided: Vec<(u32, Loc, Option<usize>)>,
        drives: usize,
        slots: usize,
    ) -> Result<Layout, LayoutError> {
        if let Some((address, loc, line)) = decided.iter().find(|e| e.0 > u32::from(u16::MAX)) {
            return Err((
                *line,
                format!(
                    "{} would get element address {address}, beyond 65535; set lower first \
                     addresses with `# sim: addresses`",
                    loc.describe()
                ),
            ));
        }
        decided.sort_by_key(|e| e.0);
        let clash = decided.windows(2).find_map(|w| match w {
            [a, b] if a.0 == b.0 => Some((a, b)),
            _ => None,
        });
        if let Some((a, b)) = clash {
            return Err((
                a.2.or(b.2),
                format!(
                    "{} and {} would share element address {}",
                    a.1.describe(),
                    b.1.describe(),
                    a.0
                ),
            ));
        }
        let mut layout = Layout {
            transport: 0,
            drives: vec![0; drives],
            slots: vec![0; slots],
            sorted: Vec::with_capacity(decided.len()),
        };
        for (address, loc, _) in decided {
            // Checked above: every address fits in 16 bits.
            let address = u16::try_from(address).unwrap_or(u16::MAX);
            match loc {
                Loc::Transport => layout.transport = address,
                Loc::Drive(n) => {
                    if let Some(a) = layout.drives.get_mut(n) {
                        *a = address;
                    }
                }
                Loc::Slot(n) => {
                    if let Some(a) = layout.slots.get_mut(n) {
                        *a = address;
                    }
                }
            }
            layout.sorted.push((address, loc));
        }
        Ok(layout)
    }

    /// The element at `address`.
    pub fn locate(&self, address: u16) -> Option<Loc> {
        self.sorted
            .binary_search_by_key(&address, |e| e.0)
            .ok()
            .and_then(|i| self.sorted.get(i))
            .map(|e| e.1)
    }

    /// Every element with an address ≥ `start`, by increasing address.
    pub fn starting_at(&self, start: u16) -> &[(u16, Loc)] {
        let i = self.sorted.partition_point(|e| e.0 < start);
        self.sorted.get(i..).unwrap_or(&[])
    }
}

/// The first addresses of each type before any `# sim:` override.
fn default_bases(
    d: usize,
    s: usize,
    i: usize,
    first_ie_number: usize,
    bases_line: Option<usize>,
) -> Result<Bases, LayoutError> {
    let ie_a = 10 + first_ie_number;
    let schemes: [[usize; 4]; 3] = [
        // The corpus' scheme (its error messages use these addresses).
        [1, 500, 1000, ie_a],
        // Large libraries (AWS: 1600 + 1600 slots).
        [1, 500, 10_000, 20_000],
        // Anything bigger: packed.
        [1, 2, 2 + d, 2 + d + s],
    ];
    let counts = [1, d, s, i];
    let fits = |firsts: &[usize; 4]| {
        let mut spans: Vec<(usize, usize)> = firsts
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| (*f, f + n))
            .collect();
        spans.sort_unstable();
        spans.iter().all(|(_, end)| *end <= 0x1_0000)
            && spans.windows(2).all(|w| matches!(w, [a, b] if a.1 <= b.0))
    };
    let chosen = schemes.iter().find(|s| fits(s)).ok_or_else(|| {
        (
            bases_line,
            format!(
                "{} elements do not fit in 16-bit element addresses",
                1 + d + s + i
            ),
        )
    })?;
    let as_u16 = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
    Ok(Bases {
        transport: Some(as_u16(chosen[0])),
        drive: Some(as_u16(chosen[1])),
        storage: Some(as_u16(chosen[2])),
        import_export: Some(as_u16(chosen[3])),
    })
}

/// First addresses with the explicit ones laid over the defaults.
#[derive(Debug, Clone, Copy)]
struct Firsts {
    transport: u16,
    drive: u16,
    storage: u16,
    import_export: u16,
}

fn overlay(defaults: Bases, explicit: &Bases) -> Firsts {
    let mut b = defaults;
    b.merge(explicit);
    Firsts {
        transport: b.transport.unwrap_or(1),
        drive: b.drive.unwrap_or(500),
        storage: b.storage.unwrap_or(1000),
        import_export: b.import_export.unwrap_or(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ie_flags(storage: usize, ie: usize) -> Vec<bool> {
        let mut v = vec![false; storage];
        v.extend(std::iter::repeat_n(true, ie));
        v
    }

    fn layout(drives: usize, flags: &[bool], bases: Bases) -> Result<Layout, LayoutError> {
        Layout::compute(&LayoutInput {
            drives,
            slot_is_ie: flags,
            bases,
            bases_line: (bases != Bases::default()).then_some(1),
            ..LayoutInput::default()
        })
    }

    #[test]
    fn default_scheme_matches_the_corpus_messages() {
        // Case 03: 2 drives, 24 storage + 4 I/E: slot 23 is 1022, slot 26 is 36.
        let flags = ie_flags(24, 4);
        let l = layout(2, &flags, Bases::default()).unwrap();
        assert_eq!(l.transport, 1);
        assert_eq!(l.drives, vec![500, 501]);
        assert_eq!(l.slots[22], 1022);
        assert_eq!(l.slots[25], 36);
        assert_eq!(l.locate(36), Some(Loc::Slot(25)));
        assert_eq!(l.locate(37), Some(Loc::Slot(26)));
        assert_eq!(l.locate(999), None);
    }

    #[test]
    fn large_libraries_move_to_10000_and_20000() {
        let flags = ie_flags(1600, 1600);
        let l = layout(10, &flags, Bases::default()).unwrap();
        assert_eq!(l.slots[0], 10_000);
        assert_eq!(l.slots[1599], 11_599);
        assert_eq!(l.slots[1600], 20_000);
        assert_eq!(l.slots[3199], 21_599);
        // Without I/E slots the first scheme still fits.
        let l = layout(10, &ie_flags(1600, 0), Bases::default()).unwrap();
        assert_eq!(l.slots[0], 1000);
    }

    #[test]
    fn huge_libraries_are_packed_or_refused() {
        let l = layout(2, &ie_flags(30_000, 20_000), Bases::default()).unwrap();
        assert_eq!((l.transport, l.drives[0], l.slots[0]), (1, 2, 4));
        assert_eq!(l.slots[30_000], 30_004);
        assert!(layout(2, &ie_flags(60_000, 10_000), Bases::default()).is_err());
    }

    #[test]
    fn explicit_addresses_override_and_collisions_are_reported() {
        let flags = ie_flags(4, 1);
        let l = layout(
            1,
            &flags,
            Bases {
                storage: Some(2000),
                import_export: Some(7),
                ..Bases::default()
            },
        )
        .unwrap();
        assert_eq!(l.slots, vec![2000, 2001, 2002, 2003, 7]);
        let err = layout(
            1,
            &flags,
            Bases {
                storage: Some(500),
                ..Bases::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.0, Some(1));
        assert!(
            err.1
                .contains("drive 0 and slot 1 would share element address 500"),
            "{}",
            err.1
        );
        let err = layout(
            1,
            &flags,
            Bases {
                storage: Some(65_534),
                ..Bases::default()
            },
        )
        .unwrap_err();
        assert!(err.1.contains("beyond 65535"), "{}", err.1);
    }

    #[test]
    fn per_element_overrides_make_gaps() {
        let flags = ie_flags(3, 0);
        let l = Layout::compute(&LayoutInput {
            drives: 2,
            slot_is_ie: &flags,
            drive_addresses: vec![(1, 510, 7)],
            slot_addresses: vec![(2, 1100, 8)],
            ..LayoutInput::default()
        })
        .unwrap();
        assert_eq!(l.drives, vec![500, 510]);
        assert_eq!(l.slots, vec![1000, 1001, 1100]);
        let starts: Vec<u16> = l.starting_at(1001).iter().map(|e| e.0).collect();
        assert_eq!(starts, vec![1001, 1100]);
    }
}
