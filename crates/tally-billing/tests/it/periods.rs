//! Billing periods over random subscriptions: each contains its instant, and
//! the periods tile time from the anchor on.

use proptest::prelude::*;
use tally_billing::period::period_for;
use tally_event::Timestamp;
use tally_testkit::subscription;

proptest! {
    /// The period contains the instant, and its neighbours touch it: the
    /// periods tile time from the anchor on, without gaps or overlaps.
    #[test]
    fn periods_contain_the_instant_and_tile(case in subscription()) {
        let (anchor, interval) = (case.starts_at, case.interval);
        let period = period_for(anchor, interval, case.at).unwrap();
        prop_assert!(period.contains(case.at));
        let next = period_for(anchor, interval, period.end()).unwrap();
        prop_assert_eq!(next.start(), period.end());
        if period.start() > anchor {
            let before = Timestamp::from_millis(period.start().as_millis() - 1).unwrap();
            let previous = period_for(anchor, interval, before).unwrap();
            prop_assert_eq!(previous.end(), period.start());
        } else {
            prop_assert_eq!(period.start(), anchor);
        }
    }
}
