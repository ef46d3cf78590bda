// Generation front end of ./ds4: one-shot (-p) and the interactive multi-turn chat.
#pragma once
#include "cli/options.h"
#include "engine/session.h"

namespace ds4::cli {

// Runs -p (one answer) or, without -p, the interactive chat on stdin. Returns the exit code.
int run_chat(const Options& o, Engine& eng);

}  // namespace ds4::cli
