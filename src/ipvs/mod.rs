//! IPVS over generic netlink (family "IPVS"), as `ipvsadm` speaks it.
