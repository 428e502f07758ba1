// The compiled module flatcore._cpu: which instruction sets this CPU and its operating system
// can run. flatcore/_simd.py asks it before importing a core variant, so it is compiled for the
// baseline of the architecture and uses nothing but CPUID and XGETBV.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define FLATCORE_X86_64 1
#endif

namespace py = pybind11;

namespace {

#if defined(FLATCORE_X86_64)
// XCR0: which register states the operating system saves on a context switch. A CPU with AVX
// is no use to a program if the OS does not save the YMM (or ZMM) registers.
unsigned long long xgetbv0() {
  unsigned int lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

bool bit(unsigned int word, int i) { return (word >> i) & 1u; }

std::vector<std::string> x86_features() {
  std::vector<std::string> out;
  unsigned int a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return out;
  const unsigned int ecx1 = c, edx1 = d;
  auto add = [&out](bool present, const char* name) {
    if (present) out.emplace_back(name);
  };
  add(bit(edx1, 26), "sse2");
  add(bit(ecx1, 0), "sse3");
  add(bit(ecx1, 9), "ssse3");
  add(bit(ecx1, 19), "sse4_1");
  add(bit(ecx1, 20), "sse4_2");
  add(bit(ecx1, 23), "popcnt");
  add(bit(ecx1, 22), "movbe");
  add(bit(ecx1, 12), "fma");
  add(bit(ecx1, 29), "f16c");
  const bool osxsave = bit(ecx1, 27);
  const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = osxsave && (xcr0 & 0x6) == 0x6;      // XMM and YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15, ZMM16-31
  add(os_avx && bit(ecx1, 28), "avx");
  unsigned int max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    add(bit(b, 3), "bmi1");
    add(bit(b, 8), "bmi2");
    add(os_avx && bit(b, 5), "avx2");
    add(os_avx512 && bit(b, 16), "avx512f");
    add(os_avx512 && bit(b, 17), "avx512dq");
    add(os_avx512 && bit(b, 28), "avx512cd");
    add(os_avx512 && bit(b, 30), "avx512bw");
    add(os_avx512 && bit(b, 31), "avx512vl");
  }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) add(bit(c, 5), "lzcnt");
  return out;
}
#endif

std::vector<std::string> features() {
#if defined(FLATCORE_X86_64)
  return x86_features();
#else
  return {};
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "What this CPU can run (used by flatcore._simd to choose a core variant).";
  m.def("features", &features,
        "The x86-64 instruction-set features this CPU has and the operating system enables (empty "
        "elsewhere), by their /proc/cpuinfo names (sse4_1, avx2, avx512f, ...).");
#if defined(FLATCORE_X86_64)
  m.attr("architecture") = "x86_64";
#else
  m.attr("architecture") = "other";
#endif
}
