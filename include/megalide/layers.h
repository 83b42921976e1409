// The fp32 layer library: every layer family, algorithm only.
#pragma once

#include "megalide/layers/activation.h"
#include "megalide/layers/attention.h"
#include "megalide/layers/conv.h"
#include "megalide/layers/elementwise.h"
#include "megalide/layers/linear.h"
#include "megalide/layers/norm.h"
#include "megalide/layers/pooling.h"
#include "megalide/layers/reduce.h"
#include "megalide/layers/resize.h"
#include "megalide/layers/shape_ops.h"
#include "megalide/layers/softmax.h"
