/* zfnet: a C library for training ZFNet/AlexNet-style CNNs and looking inside them
 * (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", 2013).
 *
 * The one header a program includes: the engine (zfnet/core.h: errors, models, the net,
 * checkpoints, datasets) and the analyses built on it (zfnet/analysis.h: evaluation, training,
 * projections, top-9, occlusion, transfer, ...). The API's conventions (defaults, argument
 * order, ownership, errors) are in docs/api.md. */
#ifndef ZFNET_ZFNET_H
#define ZFNET_ZFNET_H

#include "zfnet/core.h"
#include "zfnet/analysis.h"

#endif
