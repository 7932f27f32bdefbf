//! Hostile input, a few thousand cases per reader in every test run: the
//! test files and samples of this repository, mutated at random (bytes
//! flipped, inserted, deleted, repeated, spliced with the format's own
//! words), must come back from every reader as a value or an error, never
//! a panic. The seeds are fixed, so a failure names the case and happens
//! again on the next run.
//!
//! This is a smoke net in CI, not the fuzzing of issue 16 (coverage-guided
//! targets with long runs recorded in RELIABILITY.md). The IPVS decoders'
//! cases are in their own modules' tests (src/ipvs/service.rs, dest.rs),
//! with [`survive`] and the kernel's answers as seeds.

use std::net::Ipv4Addr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::import::{Format, Options, import};
use crate::vrrp::packet::{Advert, build_ipv4, receive};
use testkit::{TempDir, config, repo};

/// xorshift64*: the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `seed`; `words` are spliced in.
fn mutate(rng: &mut Rng, seed: &[u8], words: &[&str]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let piece = out[at.min(end)..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            4 if !words.is_empty() => {
                let word = words[rng.below(words.len())];
                out.splice(at..at, word.bytes());
            }
            5 => {
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Feed `cases` mutations of each seed to `read`; a panic fails the test
/// with the case that made it.
pub(crate) fn survive(
    what: &str,
    seeds: &[Vec<u8>],
    words: &[&str],
    cases: usize,
    mut read: impl FnMut(&[u8]),
) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (s, seed) in seeds.iter().enumerate() {
        for case in 0..cases {
            let input = mutate(&mut rng, seed, words);
            if catch_unwind(AssertUnwindSafe(|| read(&input))).is_err() {
                panic!(
                    "{what}: seed {s}, case {case} panicked on:\n{}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}

fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn router_toml_readers_never_panic() {
    let mut seeds = files(&config(""), |n| n.ends_with(".toml"));
    seeds.push(std::fs::read(repo().join("image/router.toml")).unwrap());
    let words = [
        "[[service]]",
        "[[service.real_server]]",
        "[vrrp]",
        "[management]",
        "[[interface]]",
        "\"",
        "'''",
        "= [",
        "= {",
        "]",
        "}",
        "\n",
        "=",
        ".",
        "0.0.0.0/0",
        "::/0",
        "255.255.255.255:65535",
        "[::1]:0",
        "99999999999999999999",
        "-1",
        "1e400",
        "\u{0}",
        "é",
        "health_check = { type = \"http\" }",
    ];
    survive("router.toml", &seeds, &words, 1500, |input| {
        let text = String::from_utf8_lossy(input);
        let _ = crate::config::load("router.toml", &text);
    });
}

#[test]
fn importers_never_panic() {
    let dir = TempDir::new("hostile-import");
    let file = dir.path().join("source");
    let options = Options {
        interfaces: vec![crate::import::GivenInterface::parse("eth0=192.168.200.2/24").unwrap()],
        config_id: Some("high".into()),
    };
    let keepalived: Vec<Vec<u8>> = testkit::keepalived_samples()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let words = [
        "{",
        "}",
        "\n",
        "!",
        "#",
        "@high ",
        "@low ",
        "$X",
        "$X=1\n",
        "\"",
        " ",
        "virtual_server ",
        "real_server ",
        "fwmark ",
        "group ",
        "lb_kind ",
        "DR",
        "TUN",
        "weight ",
        "-1",
        "4294967296",
        "192.168.200.3-300 ",
        "virtual_router_id 0",
        "priority 256",
        "advert_int 0.001",
        "connect_port 70000",
        "delay_loop 0",
        "url {",
        "path ",
        "status_code 600-100",
        "/33",
        "dev ",
    ];
    survive("keepalived.conf", &keepalived, &words, 600, |input| {
        std::fs::write(&file, input).unwrap();
        let _ = import(Format::Keepalived, &file, &options);
    });

    let ipvsadm = vec![
        b"-A -t 192.168.1.100:5432 -s rr\n-a -t 192.168.1.100:5432 -r 192.168.3.2:5432 -m -w 1\n\
          -A -u 10.0.0.1:53 -s sh -b sh-fallback,sh-port -p 60 -M 255.255.255.0\n\
          -a -u 10.0.0.1:53 -r 10.0.1.2 -g -w 0 -x 10 -y 5\n-A -f 7 -6 -s mh\n\
          -a -f 7 -6 -r [2001:db8::2]:0 -i\n--start-daemon master --mcast-interface eth0\n-C\n"
            .to_vec(),
        b"#!/bin/sh\nipvsadm -A -t 192.168.1.100:80 -s wrr\nipvsadm -a -t 192.168.1.100:80 -r 192.168.3.3:80 -m -w 3\nipvsadm -E -t 192.168.1.100:80 -s lc\nipvsadm -e -t 192.168.1.100:80 -r 192.168.3.3:80 -m -w 1\n".to_vec(),
    ];
    let words = [
        " -A",
        " -a",
        " -E",
        " -e",
        " -t",
        " -u",
        " --sctp-service",
        " -f",
        " -s",
        " -p",
        " -M",
        " -b",
        " -6",
        " -r",
        " -g",
        " -i",
        " -m",
        " -w",
        " -x",
        " -y",
        " ",
        "\n",
        ":",
        "[",
        "]",
        "65536",
        "-1",
        "ipvsadm ",
        "\\\n",
        "'",
        "\"",
    ];
    survive("ipvsadm rules", &ipvsadm, &words, 5000, |input| {
        std::fs::write(&file, input).unwrap();
        let _ = import(Format::Ipvsadm, &file, &options);
    });
}

#[test]
fn vrrp_packets_never_panic() {
    let (src, dst) = (Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(224, 0, 0, 18));
    let seeds: Vec<Vec<u8>> = [0usize, 1, 3, 255]
        .iter()
        .map(|&n| {
            let advert = Advert {
                vrid: 51,
                priority: 100,
                interval_centis: 100,
                addresses: (0..n)
                    .map(|i| Ipv4Addr::new(10, 0, (i / 256) as u8, i as u8))
                    .collect(),
            };
            build_ipv4(src, dst, 255, 1, &advert.encode(src, dst))
        })
        .collect();
    survive(
        "VRRP packet",
        &seeds,
        &["\u{ff}", "\u{0}"],
        20000,
        |input| {
            let _ = receive(input);
            // The same bytes as a bare VRRP message, and with its checksum
            // made right, so that decoding goes past the checksum.
            let _ = Advert::decode(input, src, dst);
            if input.len() >= 8 {
                let mut message = input.to_vec();
                message[6..8].fill(0);
                let sum = crate::vrrp::packet::checksum(src, dst, &message);
                message[6..8].copy_from_slice(&sum.to_be_bytes());
                let _ = Advert::decode(&message, src, dst);
            }
        },
    );
}
