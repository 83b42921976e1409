// A measured fp32 peak: independent FMA chains in vector registers, one per thread.
#pragma once

double fma_peak_gflops(int threads, double seconds);
