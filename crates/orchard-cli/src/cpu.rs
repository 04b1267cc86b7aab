//! What this CPU is, from /proc/cpuinfo: its model name and the vector
//! extensions that decide int8 speed (AVX2, AVX-512, VNNI). Benchmarks print
//! it so every figure says where it came from; `orchard model quantize
//! --reduce-range auto` reads VNNI from it.

/// The CPU's name and the flags Orchard cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuInfo {
    /// `model name` (e.g. `AMD EPYC 7B13`), or "unknown CPU".
    pub model: String,
    /// `cpu family` (AMD: 25 = Zen 3/4, 26 = Zen 5), if given.
    pub family: Option<u32>,
    /// AVX2.
    pub avx2: bool,
    /// AVX-512 foundation.
    pub avx512: bool,
    /// AVX-512 VNNI or AVX-VNNI: fast u8 × s8 dot products, no saturation.
    pub vnni: bool,
}

impl CpuInfo {
    /// This machine's CPU; `None` where /proc/cpuinfo cannot be read.
    pub fn current() -> Option<CpuInfo> {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| CpuInfo::parse(&text))
    }

    /// The first processor of a /proc/cpuinfo text; `None` without flags.
    pub fn parse(text: &str) -> Option<CpuInfo> {
        let field = |name: &str| {
            text.lines()
                .find(|l| l.split(':').next().map(str::trim) == Some(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let flags = field("flags")?;
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        Some(CpuInfo {
            model: field("model name").unwrap_or_else(|| "unknown CPU".into()),
            family: field("cpu family").and_then(|f| f.parse().ok()),
            avx2: has("avx2"),
            avx512: has("avx512f"),
            vnni: has("avx512_vnni") || has("avx_vnni"),
        })
    }

    /// One line: `AMD EPYC (family 26), AVX-512, VNNI`.
    pub fn summary(&self) -> String {
        let mut parts = vec![match self.family {
            Some(f) => format!("{} (family {f})", self.model),
            None => self.model.clone(),
        }];
        let isa = if self.avx512 {
            "AVX-512"
        } else if self.avx2 {
            "AVX2 only"
        } else {
            "no AVX2"
        };
        parts.push(isa.to_string());
        parts.push(if self.vnni { "VNNI" } else { "no VNNI" }.to_string());
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZEN3: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx avx2 fma bmi2\n";
    const ZEN5: &str = "processor\t: 0\ncpu family\t: 26\nmodel name\t: AMD EPYC\nflags\t\t: avx2 avx512f avx512bw avx_vnni avx512_vnni\n";

    #[test]
    fn reads_the_model_and_the_flags_that_decide_int8_speed() {
        let zen3 = CpuInfo::parse(ZEN3).unwrap();
        assert_eq!(zen3.model, "AMD EPYC 7B13");
        assert_eq!(zen3.family, Some(25));
        assert!(zen3.avx2 && !zen3.avx512 && !zen3.vnni);
        assert_eq!(
            zen3.summary(),
            "AMD EPYC 7B13 (family 25), AVX2 only, no VNNI"
        );
        let zen5 = CpuInfo::parse(ZEN5).unwrap();
        assert!(zen5.avx512 && zen5.vnni);
        assert_eq!(zen5.summary(), "AMD EPYC (family 26), AVX-512, VNNI");
        assert_eq!(CpuInfo::parse("processor : 0\n"), None);
    }
}
