//! A datagram as the VRRP socket receives it (IPv4 header and all), then
//! the advertisement inside it decoded on its own.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = lvsinit::vrrp::packet::receive(data);
    let _ = lvsinit::vrrp::packet::Advert::decode(
        data,
        "192.168.1.2".parse().unwrap(),
        "224.0.0.18".parse().unwrap(),
    );
});
