/* zfnet export (a checkpoint as an ONNX graph) and zfnet import (an ONNX graph as a model file
 * and a checkpoint every command takes). */
#include "cli.h"
#include "output.h"

#include <stdlib.h>
#include <string.h>

static const cli_command export_cmd = {
    "export",
    "--weights W [--model M] -o MODEL.onnx [--opset N]",
    "Writes the net as an ONNX graph (atomically): one node per layer, named as the layer\n"
    "and writing a tensor of the same name (Conv, Relu, MaxPool, LRN, Flatten + Gemm with\n"
    "transB, Dropout, Softmax); the weights as initializers with PyTorch's names; the\n"
    "model text and the data preparation (mean image, scale, class names) as metadata.\n"
    "Runs in onnxruntime and reads back with 'zfnet import' to the same model and weights\n"
    "(docs/onnx.md says what each opset gets).\n",
    0,
    0,
    NULL};

int cmd_export(int argc, char **argv) {
    const char *weights = NULL, *model = NULL, *out = NULL;
    int opset = 13;
    const cli_opt own[] = {
        CLI_WEIGHTS(&weights, "the checkpoint to export (required)"),
        {"model", CLI_STR, &model, "M", "preset or model file (default: the checkpoint's own)"},
        {"output", CLI_STR, &out, "FILE", "the .onnx file to write (required)", .alias = 'o',
         .required = 1},
        {"opset", CLI_INT, &opset, "N", "ONNX opset, 7 to 17 (13)", 7, 17},
        {0}};
    int npos, rc = cli_parse(&export_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (!weights) return cli_usage_error("export", "--weights is required");
    if (cli_check_output(out)) return 1;
    zf_net *net;
    zf_data_prep prep;
    if (cli_open_weights(model, weights, 1, &net, &prep)) return 1;
    zf_error err;
    zf_status st = zf_onnx_export(net, &prep, opset, out, &err);
    size_t params = zf_net_num_params(net);
    int layers = zf_net_num_layers(net);
    zf_net_free(net);
    zf_data_prep_free(&prep);
    if (st) return cli_fail(&err);
    char p[32];
    printf("wrote %s: %d layers, %s parameters, opset %d\n", out, layers, cli_commas(p, params),
           opset);
    return 0;
}

static const cli_command import_cmd = {
    "import",
    "MODEL.onnx -o DIR",
    "Reads an ONNX graph of the layers zfnet computes and writes DIR/model.cfg and\n"
    "DIR/weights.safetensors, which every command takes (--weights DIR/weights.safetensors).\n"
    "Read: Conv (square windows, groups), Relu, MaxPool (ceil_mode, explicit end pads),\n"
    "LRN, Flatten or Reshape before the first Gemm, Gemm, MatMul (+ Add), Dropout,\n"
    "Softmax, Identity, and PyTorch's LRN written as primitive nodes; opsets 7 to 17.\n"
    "Anything else is refused, naming the node, its op type and why (docs/onnx.md).\n",
    1,
    1,
    "expected one MODEL.onnx"};

int cmd_import(int argc, char **argv) {
    const char *dir = NULL;
    const cli_opt own[] = {CLI_OUTPUT(&dir, "the folder to write (required)"), {0}};
    int npos, rc = cli_parse(&import_cmd, own, NULL, argc, argv, &npos);
    if (rc >= 0) return rc;
    if (!dir) return cli_usage_error("import", "-o DIR is required");
    zf_net *net;
    zf_data_prep prep;
    zf_error err;
    zf_net_options no;
    zf_net_defaults(&no);
    no.threads = 1;
    if (zf_onnx_import(argv[1], &no, &net, &prep, &err)) return cli_fail(&err);
    size_t len = strlen(dir) + 32;
    char *cfg = malloc(len), *w = malloc(len);
    const char *text = zf_model_text(zf_net_model(net));
    zf_checkpoint_data d = {.prep = &prep};
    rc = !cfg || !w ? cli_error("out of memory") : make_dir(dir);
    int dl = (int)strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--; /* "out/" names out/model.cfg */
    if (!rc)
        snprintf(cfg, len, "%.*s/model.cfg", dl, dir),
            snprintf(w, len, "%.*s/weights.safetensors", dl, dir);
    if (!rc && zf_write_file(cfg, text, strlen(text), &err)) rc = cli_fail(&err);
    if (!rc && zf_checkpoint_write(net, w, &d, &err)) rc = cli_fail(&err);
    char p[32];
    if (!rc)
        printf("wrote %s and %s: %s, %d layers, %s parameters\n", cfg, w,
               zf_model_name(zf_net_model(net)), zf_net_num_layers(net),
               cli_commas(p, zf_net_num_params(net)));
    free(cfg), free(w);
    zf_net_free(net);
    zf_data_prep_free(&prep);
    return rc;
}
