package store

import "kibo/store/storegen"

// The tests that need a large or an old database generate it with storegen, which
// stays out of the production store; these names keep their calls short.
type GenConfig = storegen.Config

var Generate = storegen.Generate
