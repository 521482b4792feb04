// Declarations of libFuzzer's C entry points (provided by libclang_rt.fuzzer, linked by -sanitize=fuzzer).
#ifndef FLOTILLA_CLIBFUZZER_H
#define FLOTILLA_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (argument parsing, corpus handling, the fuzzing loop) with `callback` as the target.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
