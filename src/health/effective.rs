//! What the kernel gets: the config as health checks see it.

use crate::config::{CheckKind, Config, HealthCheck, OnFailure, RealServer, Service};

use super::{CheckKey, Health};

/// `config` with every down real server quiesced (weight 0: no new
/// connections, existing ones drain) or removed, per its `on_failure`, and
/// each service's `sorry_server` added (weight 1, the service's
/// forwarding) while none of its real servers is up.
///
/// Applied through the same reconcile as the boot config, so a change
/// touches only the real servers whose state changed.
pub fn effective(config: &Config, health: &Health) -> Config {
    let mut out = config.clone();
    for service in &mut out.services {
        let mut any_up = false;
        service.real_servers.retain_mut(|real| {
            let down = CheckKey::of(real).is_some_and(|key| !health.is_up(&key));
            if !down {
                any_up = true;
                return true;
            }
            match real.health_check.on_failure {
                OnFailure::Quiesce => {
                    real.weight = 0;
                    true
                }
                OnFailure::Remove => false,
            }
        });
        // `any_up` is `!all_down(service)`, counted on the way.
        if !any_up && let Some(sorry) = service.sorry_server {
            service.real_servers.push(RealServer {
                address: sorry,
                weight: 1,
                forwarding: service.forwarding,
                upper_threshold: 0,
                lower_threshold: 0,
                health_check: HealthCheck {
                    kind: CheckKind::None,
                    ..HealthCheck::default()
                },
            });
        }
    }
    out
}

/// Whether no real server of `service` is up (also when it has none): the
/// condition of its `sorry_server`, and of a VRRP `track_services` entry.
/// A real server with `type = "none"` is always up.
pub fn all_down(service: &Service, health: &Health) -> bool {
    service
        .real_servers
        .iter()
        .all(|real| CheckKey::of(real).is_some_and(|key| !health.is_up(&key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    const TEXT: &str = r#"
[[service]]
protocol = "tcp"
address = "192.168.1.100:5432"
forwarding = "nat"
sorry_server = "192.168.3.9:5432"

  [[service.real_server]]
  address = "192.168.3.2:5432"
  weight = 3

  [[service.real_server]]
  address = "192.168.3.3:5432"
  health_check = { on_failure = "remove" }

  [[service.real_server]]
  address = "192.168.3.4:5432"
  health_check = { type = "none" }

[[service]]
protocol = "tcp"
address = "192.168.1.101:5432"
forwarding = "direct"
sorry_server = "192.168.3.9:5432"

  [[service.real_server]]
  address = "192.168.3.2:5432"
"#;

    fn health(down: &[&str], config: &Config) -> Health {
        let mut health = Health::new();
        for real in config.services.iter().flat_map(|s| &s.real_servers) {
            if let Some(key) = CheckKey::of(real) {
                let is_down = down.contains(&real.address.to_string().as_str());
                health.set(key, !is_down);
            }
        }
        health
    }

    /// (address, weight) of each service's real servers.
    fn table(config: &Config) -> Vec<Vec<(String, u32)>> {
        config
            .services
            .iter()
            .map(|s| {
                s.real_servers
                    .iter()
                    .map(|r| (r.address.to_string(), r.weight))
                    .collect()
            })
            .collect()
    }

    fn rows(rows: &[&[(&str, u32)]]) -> Vec<Vec<(String, u32)>> {
        rows.iter()
            .map(|r| r.iter().map(|(a, w)| (a.to_string(), *w)).collect())
            .collect()
    }

    #[test]
    fn down_servers_are_quiesced_or_removed_and_the_sorry_server_stands_in() {
        let (config, _) = load("router.toml", TEXT).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            effective(&config, &Health::new()),
            config,
            "all up: as configured"
        );

        let one = effective(&config, &health(&["192.168.3.2:5432"], &config));
        assert_eq!(
            table(&one),
            rows(&[
                &[
                    ("192.168.3.2:5432", 0),
                    ("192.168.3.3:5432", 1),
                    ("192.168.3.4:5432", 1)
                ],
                // The shared real server is down in the other service too;
                // it was its only one, so the sorry server stands in.
                &[("192.168.3.2:5432", 0), ("192.168.3.9:5432", 1)],
            ])
        );
        assert_eq!(
            one.services[1].real_servers[1].forwarding,
            config.services[1].forwarding
        );

        let both = effective(
            &config,
            &health(&["192.168.3.2:5432", "192.168.3.3:5432"], &config),
        );
        // .3 removed; .4 is never checked, so it is up and no sorry server.
        assert!(!all_down(
            &config.services[0],
            &health(&["192.168.3.2:5432", "192.168.3.3:5432"], &config)
        ));
        assert!(all_down(
            &config.services[1],
            &health(&["192.168.3.2:5432"], &config)
        ));
        assert!(!all_down(&config.services[1], &Health::new()));
        assert_eq!(
            table(&both)[0],
            rows(&[&[("192.168.3.2:5432", 0), ("192.168.3.4:5432", 1)]])[0]
        );
    }
}
