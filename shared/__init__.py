"""hybridnet: keeps an ExpressRoute + site-to-site VPN failover hybrid network healthy."""
