//! The director config the benchmark boots: the lab's classic LVS-NAT
//! setup with two VIPs, so that the data path can be compared fairly.
//!
//! - 192.168.1.100:5432, round robin over both real servers (the classic
//!   setup, the VIP the boot item connects to);
//! - 192.168.1.101:5432, one real server only (192.168.3.2): pgbench
//!   through it and pgbench straight to 192.168.3.2 reach the same
//!   PostgreSQL, so the only difference is IPVS.

/// The VIP balanced over both real servers.
pub const VIP_BALANCED: &str = "192.168.1.100";
/// The VIP in front of the first real server alone.
pub const VIP_SINGLE: &str = "192.168.1.101";
/// The real server behind [`VIP_SINGLE`].
pub const SINGLE_SERVER: &str = "192.168.3.2";

/// The router.toml text.
pub fn config() -> String {
    format!(
        r#"# lvsinit benchmark director (benches/appliance/director.rs)
hostname = "lab-bench"

[sysctl]
"net.ipv4.vs.expire_nodest_conn" = 1

[[interface]]
name = "wan"
mac = "{wan_mac}"
addresses = ["192.168.1.1/24", "{VIP_BALANCED}/24", "{VIP_SINGLE}/24"]

[[interface]]
name = "lan"
mac = "{lan_mac}"
addresses = ["192.168.3.1/24"]

[[service]]
name = "pg-rr"
protocol = "tcp"
address = "{VIP_BALANCED}:5432"
scheduler = "rr"
forwarding = "nat"

  [[service.real_server]]
  address = "192.168.3.2:5432"

  [[service.real_server]]
  address = "192.168.3.3:5432"

[[service]]
name = "pg-one"
protocol = "tcp"
address = "{VIP_SINGLE}:5432"
scheduler = "rr"
forwarding = "nat"

  [[service.real_server]]
  address = "{SINGLE_SERVER}:5432"
"#,
        wan_mac = testkit::lab::WAN_MAC,
        lan_mac = testkit::lab::LAN_MAC,
    )
}
