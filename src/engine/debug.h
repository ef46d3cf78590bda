// Engine internals for tests and debugging (not part of the public API in session.h).
#pragma once
#include "engine/session.h"
#include "model/forward.h"

namespace ds4 {

// Installs a per-layer trace callback on a session created by Engine::load (null clears it).
// Setting DS4_TRACE_NORMS=1 in the environment installs one that prints, per layer, the L2
// norm of the residual streams of each token to stderr.
void set_layer_hook(Session& s, LayerHook hook);

// The numerics flags a Numerics value maps to.
NumericsFlags numerics_flags(Numerics n);

}  // namespace ds4
