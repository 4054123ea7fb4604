use super::*;

#[test]
fn limits_map_onto_the_protocols_units() {
    let limit = |requests, per_seconds| Limit {
        requests,
        per_seconds,
    };
    assert_eq!(in_units(limit(5, 1)), (5, Unit::Second));
    assert_eq!(in_units(limit(20, 60)), (20, Unit::Minute));
    assert_eq!(in_units(limit(10, 3600)), (10, Unit::Hour));
    assert_eq!(in_units(limit(50, 86400)), (50, Unit::Day));
    // Other windows: the same rate over the next larger unit, never less than one.
    assert_eq!(in_units(limit(3, 10)), (18, Unit::Minute));
    assert_eq!(in_units(limit(1, 7200)), (12, Unit::Day));
    // Longer than a day: at least one a day (the local bucket keeps the window as written).
    assert_eq!(in_units(limit(7, 604_800)), (1, Unit::Day));
    assert_eq!(in_units(limit(1, 10_000_000)), (1, Unit::Day));
    assert!(is_unit_window(3600) && is_unit_window(86_400) && !is_unit_window(7200));
    assert_eq!(in_units(limit(u32::MAX, 1)), (u32::MAX, Unit::Second));
}
