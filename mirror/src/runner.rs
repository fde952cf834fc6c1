//! Runs every enabled flow of a config, each on its own thread, until told to
//! stop. A flow that fails (a cluster unreachable, a delivery refused) is logged
//! and started again a second later from its committed position, so one bad flow
//! or one outage neither stops the others nor loses records. Each flow also has
//! its own stop switch (`MirrorStatus::stop_flow`, the console's stop and
//! failover actions): a flow stopped so stays stopped while the others run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::MirrorConfig;
use crate::flow::FlowRunner;
use crate::status::{FlowState, MirrorStatus};

/// Runs the flows until `stop` is set, keeping `status` current; `on_ready` is
/// called once, with the flow names, when every flow has done its first
/// discovery.
pub fn run(cfg: MirrorConfig, stop: Arc<AtomicBool>, status: MirrorStatus, on_ready: impl FnOnce(Vec<String>)) {
    crate::status::describe_metrics();
    let mut threads = Vec::new();
    let mut readies = Vec::new();
    let mut switches = Vec::new();
    for flow in cfg.flows.clone() {
        let (cfg, status) = (cfg.clone(), status.clone());
        let stop = status.stop_switch(&flow.name());
        switches.push(stop.clone());
        let ready = Arc::new(AtomicBool::new(false));
        readies.push(ready.clone());
        threads.push(std::thread::spawn(move || {
            let name = flow.name();
            while !stop.load(Ordering::SeqCst) {
                status.set_state(&name, FlowState::Starting, None);
                let result = FlowRunner::new(&cfg, &flow, status.clone()).and_then(|mut r| r.run(&stop, &ready));
                match result {
                    Ok(()) => break,
                    Err(e) => {
                        status.set_state(&name, FlowState::Failed, Some(e.to_string()));
                        tracing::warn!(flow = %flow.name(), error = %e, "flow failed; resuming from its committed position");
                        for _ in 0..10 {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            }
            status.set_state(&name, FlowState::Stopped, None);
            // A flow stopped before its first discovery holds nobody up.
            ready.store(true, Ordering::SeqCst);
        }));
    }
    let mut on_ready = Some(on_ready);
    loop {
        if stop.load(Ordering::SeqCst) {
            switches.iter().for_each(|s| s.store(true, Ordering::SeqCst));
        }
        if on_ready.is_some() && !stop.load(Ordering::SeqCst) && readies.iter().all(|r| r.load(Ordering::SeqCst)) {
            if let Some(f) = on_ready.take() {
                f(cfg.flows.iter().map(|f| f.name()).collect());
            }
        }
        if threads.iter().all(|t| t.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        let _ = t.join();
    }
}
