# ds4 — DeepSeek V4 Flash inference engine.
# Sources are discovered, not listed: every src/**/*.cpp and kernels/cpu/*.cpp goes into
# libds4.a except *_main.cpp (program entry points) and *_test.cpp (GoogleTest files, which
# live beside the code they test, plus integration tests under tests/).

CXX      ?= g++
PORTABLE ?= 0
ifeq ($(PORTABLE),1)
  # -Wno-psabi: 64-byte GCC vectors (model/vec16.h, backend lambdas) are only passed to
  # inline functions inside one object, so the AVX-512 ABI note does not apply.
  ARCH := -march=x86-64-v3 -mtune=generic -Wno-psabi
else
  ARCH := -march=native
endif
# -ffp-contract=off: the quantizers must be byte-identical to ggml (no implicit FMA);
# SIMD kernels use explicit intrinsics, which this flag does not affect. Never -ffast-math.
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 $(ARCH) -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -pthread -I. -Isrc -MMD -MP
LDFLAGS  += -pthread
# BUILD=dir gives a separate object/test directory (parallel work in one checkout).
BUILD    ?= build$(if $(filter 1,$(PORTABLE)),-portable,)

ALL_SRCS  := $(shell find src kernels/cpu -name '*.cpp' 2>/dev/null | sort)
LIB_SRCS  := $(filter-out %_main.cpp %_test.cpp %_fuzz.cpp,$(ALL_SRCS))
TEST_SRCS := $(filter %_test.cpp,$(ALL_SRCS)) $(wildcard tests/*_test.cpp)
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
LIB       := $(BUILD)/libds4.a

TOOLS := gguf-tools/deepseek4-quantize gguf-tools/gguf-info gguf-tools/make-synthetic
BINS  := ds4 ds4-eval ds4-bench $(TOOLS)

.PHONY: all test demo cuda bench fuzz clean
# Keep object files of the tools (make would delete them as intermediates of the pattern rule).
.SECONDARY:
all: $(BINS)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

ds4: $(BUILD)/src/cli/ds4_main.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDFLAGS)
ds4-eval: $(BUILD)/src/eval/ds4_eval_main.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDFLAGS)
ds4-bench: $(BUILD)/src/cli/ds4_bench_main.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDFLAGS)
# Tool names use dashes, their sources underscores: gguf-tools/gguf-info <- gguf_info_main.cpp.
.SECONDEXPANSION:
gguf-tools/%: $(BUILD)/gguf-tools/$$(subst -,_,$$*)_main.o $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDFLAGS)

$(BUILD)/ds4_tests: $(TEST_OBJS) $(LIB)
	$(CXX) $(CXXFLAGS) $^ -o $@ -lgtest -lgtest_main $(LDFLAGS)

# The test suite reads ../shared (DS4_SHARED overrides); integration tests run the built tools.
test: $(BINS) $(BUILD)/ds4_tests
	./$(BUILD)/ds4_tests $(GTEST_ARGS)

# First run: a tiny random-weight model, then the CLI on it.
demo: all
	@tests/scripts/demo.sh

# The CUDA backend is a later milestone; this target must never break the CPU build.
cuda: all
	@if [ -d kernels/cuda ] && ls kernels/cuda/*.cu >/dev/null 2>&1; then \
	  $(MAKE) -f kernels/cuda/cuda.mk; else echo "make cuda: CUDA backend not implemented yet (CPU build done)"; fi

bench: all
	@tests/scripts/bench.sh

# libFuzzer target for the GGUF reader (clang); see docs/FUZZING.md.
fuzz: gguf-fuzz
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. -Isrc
FUZZ_SRCS  := $(filter src/gguf/% src/util/% src/quant/ggml_types%,$(LIB_SRCS))
# json.cpp is built as C++17: clang 14 with libstdc++ 12 rejects json.h's recursive Value
# in C++20 mode (eagerly instantiated constexpr ~vector of an incomplete pair).
gguf-fuzz: tests/fuzz/gguf_fuzz.cpp $(FUZZ_SRCS)
	@mkdir -p $(BUILD)/fuzz
	clang++ -std=c++17 $(FUZZ_FLAGS) -c src/util/json.cpp -o $(BUILD)/fuzz/json.o
	clang++ -std=c++20 $(FUZZ_FLAGS) $(filter-out src/util/json.cpp,$^) $(BUILD)/fuzz/json.o -o $@

clean:
	rm -rf build build-portable $(BINS) gguf-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
