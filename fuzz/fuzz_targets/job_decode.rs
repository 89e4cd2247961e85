//! Fuzz target for the fetch-job decoder the worker runs on every delivery:
//! any message body decodes to a job or an error, never a panic, and a job it
//! accepts re-encodes to a body that decodes to the same job.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicmeta_shared::jobs::{FetchJob, MAX_DEPTH, VERSION};

fuzz_target!(|body: &[u8]| {
    let Ok(job) = FetchJob::decode(body) else {
        return;
    };
    assert_eq!(job.v, VERSION);
    assert!(job.depth <= MAX_DEPTH);
    let again = FetchJob::decode(&job.encode()).expect("a re-encoded job decodes");
    assert_eq!(again, job);
});
