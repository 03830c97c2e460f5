//! The networks a header or block can belong to, and their constants.

use core::fmt;
use core::str::FromStr;

use super::hash::BlockHash;

/// A Bitcoin SV network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Network {
    /// The main network.
    Mainnet,
    /// The public test network (testnet3).
    Testnet,
    /// Local regression-test chains: trivial proof of work, used for generated test chains.
    Regtest,
}

impl Network {
    /// Every network, for iteration.
    pub const ALL: [Network; 3] = [Network::Mainnet, Network::Testnet, Network::Regtest];

    /// Returns the compact encoding of the highest (easiest) target a header may claim.
    pub const fn pow_limit_bits(self) -> u32 {
        match self {
            Network::Mainnet | Network::Testnet => 0x1d00_ffff,
            Network::Regtest => 0x207f_ffff,
        }
    }

    /// Returns the hash of the network's genesis block.
    pub fn genesis_hash(self) -> BlockHash {
        let hex = match self {
            Network::Mainnet => "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            Network::Testnet => "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
            Network::Regtest => "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        };
        // The literals above are 64 valid hex digits, so parsing cannot fail.
        BlockHash::from_hex(hex).unwrap_or_default()
    }

    /// Returns the magic that frames each block in the node's `blk*.dat` files.
    pub const fn disk_magic(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0xf9, 0xbe, 0xb4, 0xd9],
            Network::Testnet => [0x0b, 0x11, 0x09, 0x07],
            Network::Regtest => [0xfa, 0xbf, 0xb5, 0xda],
        }
    }

    /// Returns the version byte of P2PKH addresses.
    pub const fn p2pkh_prefix(self) -> u8 {
        match self {
            Network::Mainnet => 0x00,
            Network::Testnet | Network::Regtest => 0x6f,
        }
    }

    /// Returns the lower-case name used in config files and bundle names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown network name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network (expected mainnet, testnet or regtest)")]
pub struct UnknownNetworkError;

impl FromStr for Network {
    type Err = UnknownNetworkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" | "main" => Ok(Network::Mainnet),
            "testnet" | "test" => Ok(Network::Testnet),
            "regtest" => Ok(Network::Regtest),
            _ => Err(UnknownNetworkError),
        }
    }
}
