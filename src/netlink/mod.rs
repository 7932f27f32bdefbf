//! rtnetlink: links, addresses, routes, as `ip link/addr/route` users know them.
