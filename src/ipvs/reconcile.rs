//! Make the kernel's IPVS table match the config: dump, diff, execute.
//!
//! Nothing is flushed and nothing is replayed: only the differences are
//! sent, so applying the same config again sends nothing and established
//! connections survive every re-apply.

use super::dest::Dest;
use super::diff::diff;
use super::error::IpvsError;
use super::op::Op;
use super::service::VirtualService;
use super::socket::Ipvs;

/// A table as the kernel should hold it: each virtual service with its
/// real servers, in config order ([`super::desired`]).
pub type Desired = Vec<(VirtualService, Vec<Dest>)>;

/// What one reconcile did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Changes sent to the kernel (0 when it already matched).
    pub ops: usize,
    /// Those changes, in the order sent.
    pub sent: Vec<Op>,
    /// The changes the kernel refused, each with its reason.
    pub failures: Vec<(Op, IpvsError)>,
}

/// Bring the kernel's virtual services and real servers in line with
/// `want` ([`super::desired`] of the config's services). Fails only when
/// the table cannot be read; refused changes are listed in the [`Report`]
/// and the rest are applied anyway.
///
/// A change the kernel refuses because it is already in place (adding what
/// exists, deleting what is gone: someone else changed the table between
/// our read and our write) counts as done.
pub fn reconcile_to(ipvs: &mut Ipvs, want: &Desired) -> Result<Report, IpvsError> {
    let current = ipvs.dump()?;
    let ops = diff(want, &current);
    for op in &ops {
        log::debug!("ipvsadm {op}");
    }
    let results = ipvs.execute(&ops);
    let failures: Vec<(Op, IpvsError)> = ops
        .iter()
        .zip(results)
        .filter_map(|(op, result)| match result {
            Err(e) if op.already_done(&e) => {
                log::info!("ipvsadm {op}: {e}; already in place");
                None
            }
            Err(e) => Some((op.clone(), e)),
            Ok(()) => None,
        })
        .collect();
    Ok(Report {
        ops: ops.len(),
        sent: ops,
        failures,
    })
}
