"""zfnet from Python: libzfnet.so's C API through ctypes, numpy arrays in and out.

    import numpy as np, zfnet
    net = zfnet.Net.from_checkpoint("run/best.safetensors")      # or Net.from_model("zfnet-mini")
    y = net.forward(x, upto="conv3")                             # x: (n, c, h, w) float32
    proj, maps, values = net.project(x, "conv3", rule="deconvnet")
    cam, classes, probs = net.gradcam(x, "conv5")

The library is found as $ZFNET_LIB, then in ../build (this file in a source tree), then in
../../../lib (installed as PREFIX/share/zfnet/python/zfnet.py), then as libzfnet.so.1 on the
system's library path (the Debian package). Errors raise zfnet.Error with the library's one-line
message. Needs numpy (Debian: python3-numpy).

The ctypes mirrors of the C structs below are checked against the C layout at test time
(tests/binding_layout.py: sizes and offsets printed by a C program), so a struct that changes in
the headers fails a test instead of corrupting memory here.
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Error", "Net", "Linear", "library", "version", "transfer", "probe",
           "draw_per_class", "per_class_accuracy", "pool_maps"]

SONAME = "libzfnet.so.1"  # the library's major version this binding speaks


class Error(Exception):
    """A libzfnet call failed: the library's one-line message."""


class _Err(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * 1024)]


class _Shape(ctypes.Structure):
    _fields_ = [("c", ctypes.c_int), ("h", ctypes.c_int), ("w", ctypes.c_int)]


class _LayerInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("kind", ctypes.c_int), ("in_", _Shape),
                ("out", _Shape), ("params", ctypes.c_size_t), ("macs", ctypes.c_uint64),
                ("rf_size", ctypes.c_int), ("rf_stride", ctypes.c_int),
                ("rf_offset", ctypes.c_int), ("kernel", ctypes.c_int), ("stride", ctypes.c_int),
                ("pad", ctypes.c_int), ("line", ctypes.c_int)]


class _NetOptions(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("threads", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("max_params", ctypes.c_uint64), ("precision", ctypes.c_int)]


class _Overrides(ctypes.Structure):
    _fields_ = [("classes", ctypes.c_int), ("channels", ctypes.c_int), ("height", ctypes.c_int),
                ("width", ctypes.c_int)]


class _InitOptions(ctypes.Structure):
    _fields_ = [("scheme", ctypes.c_int), ("std", ctypes.c_double), ("bias", ctypes.c_double),
                ("seed", ctypes.c_uint64)]


class _ProjectOptions(ctypes.Structure):
    _fields_ = [("rule", ctypes.c_int), ("lrn", ctypes.c_int), ("select", ctypes.c_int),
                ("map", ctypes.c_int), ("y", ctypes.c_int), ("x", ctypes.c_int),
                ("batch", ctypes.c_int)]


class _Prep(ctypes.Structure):
    _fields_ = [("mean", ctypes.c_void_p), ("shape", _Shape), ("scale", ctypes.c_float),
                ("pad", ctypes.c_int), ("classes", ctypes.c_int), ("class_names", ctypes.c_void_p),
                ("source", ctypes.c_void_p)]


class _Callbacks(ctypes.Structure):
    _fields_ = [("progress", ctypes.c_void_p), ("notice", ctypes.c_void_p),
                ("ctx", ctypes.c_void_p), ("cancelled", ctypes.c_void_p)]


class _OccOptions(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("stride", ctypes.c_int), ("fill", ctypes.c_void_p),
                ("layer", ctypes.c_int), ("map", ctypes.c_int), ("batch", ctypes.c_int),
                ("plain", ctypes.c_int), ("cb", _Callbacks)]


class _OccResult(ctypes.Structure):
    _fields_ = [(k, ctypes.c_int) for k in ("ny", "nx", "y0", "x0", "size", "stride", "layer",
                                            "map", "klass")] + [
        ("base_activation", ctypes.c_float), ("base_prob", ctypes.c_float),
        ("base_label", ctypes.c_int), ("activation", ctypes.POINTER(ctypes.c_float)),
        ("prob", ctypes.POINTER(ctypes.c_float)), ("label", ctypes.POINTER(ctypes.c_int)),
        ("label_prob", ctypes.POINTER(ctypes.c_float))]


class _InvOptions(ctypes.Structure):
    _fields_ = [("transform", ctypes.c_int), ("start", ctypes.c_double),
                ("stop", ctypes.c_double), ("steps", ctypes.c_int), ("layers", ctypes.c_void_p),
                ("nlayers", ctypes.c_int), ("batch", ctypes.c_int), ("cb", _Callbacks)]


class _InvResult(ctypes.Structure):
    _fields_ = [("steps", ctypes.c_int), ("nlayers", ctypes.c_int), ("klass", ctypes.c_int),
                ("values", ctypes.POINTER(ctypes.c_double)),
                ("distance", ctypes.POINTER(ctypes.c_double)),
                ("prob", ctypes.POINTER(ctypes.c_float)), ("label", ctypes.POINTER(ctypes.c_int)),
                ("base_prob", ctypes.c_float)]


class _TransferOptions(ctypes.Structure):
    _fields_ = [("checkpoint", ctypes.c_char_p), ("train", ctypes.c_char_p),
                ("test", ctypes.c_char_p), ("mode", ctypes.c_int), ("freeze", ctypes.c_char_p),
                ("per_class", ctypes.c_int), ("folds", ctypes.c_int),
                ("test_per_class", ctypes.c_int), ("steps", ctypes.c_int), ("batch", ctypes.c_int),
                ("lr", ctypes.c_double), ("momentum", ctypes.c_double),
                ("weight_decay", ctypes.c_double), ("base_lr_scale", ctypes.c_double),
                ("crop_pad", ctypes.c_int), ("flip", ctypes.c_int), ("cache", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("threads", ctypes.c_int), ("precision", ctypes.c_int),
                ("save", ctypes.c_char_p), ("cb", _Callbacks)]


class _TransferResult(ctypes.Structure):
    _fields_ = [("folds", ctypes.c_int), ("classes", ctypes.c_int), ("freeze", ctypes.c_int),
                ("train_images", ctypes.c_int), ("test_images", ctypes.c_int),
                ("accuracy", ctypes.POINTER(ctypes.c_double)),
                ("class_accuracy", ctypes.POINTER(ctypes.c_double)),
                ("mean", ctypes.c_double), ("std", ctypes.c_double), ("seconds", ctypes.c_double),
                ("feature_seconds", ctypes.c_double)]


class _ProbeOptions(ctypes.Structure):
    _fields_ = [("checkpoint", ctypes.c_char_p), ("train", ctypes.c_char_p),
                ("test", ctypes.c_char_p), ("layers", ctypes.c_char_p), ("svm", ctypes.c_int),
                ("softmax", ctypes.c_int), ("pool", ctypes.c_int), ("grid", ctypes.c_int),
                ("per_class", ctypes.c_int), ("folds", ctypes.c_int),
                ("test_per_class", ctypes.c_int), ("holdout", ctypes.c_double),
                ("svm_c", ctypes.POINTER(ctypes.c_double)),
                ("softmax_wd", ctypes.POINTER(ctypes.c_double)), ("nsvm_c", ctypes.c_int),
                ("nsoftmax_wd", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("threads", ctypes.c_int), ("precision", ctypes.c_int), ("cb", _Callbacks)]


class _ProbeResult(ctypes.Structure):
    _fields_ = [("nlayers", ctypes.c_int), ("folds", ctypes.c_int), ("classes", ctypes.c_int),
                ("train_images", ctypes.c_int), ("test_images", ctypes.c_int),
                ("layers", ctypes.POINTER(ctypes.c_int)), ("dims", ctypes.POINTER(ctypes.c_int)),
                ("accuracy", ctypes.POINTER(ctypes.c_double)),
                ("reg", ctypes.POINTER(ctypes.c_double)),
                ("mean", ctypes.POINTER(ctypes.c_double)),
                ("std", ctypes.POINTER(ctypes.c_double)), ("seconds", ctypes.c_double),
                ("feature_seconds", ctypes.c_double)]


# The C struct each mirror stands for; field names as in C except where Python needs another
# (the layout check maps them back).
MIRRORS = {"zf_error": _Err, "zf_shape": _Shape, "zf_layer_info": _LayerInfo,
           "zf_net_options": _NetOptions, "zf_model_overrides": _Overrides,
           "zf_init_options": _InitOptions, "zf_project_options": _ProjectOptions,
           "zf_data_prep": _Prep, "zf_callbacks": _Callbacks, "zf_occlusion_options": _OccOptions,
           "zf_occlusion_result": _OccResult, "zf_invariance_options": _InvOptions,
           "zf_invariance_result": _InvResult, "zf_transfer_options": _TransferOptions,
           "zf_transfer_result": _TransferResult, "zf_probe_options": _ProbeOptions,
           "zf_probe_result": _ProbeResult}
FIELD_NAMES = {"in_": "in", "start": "from", "stop": "to"}

_lib = None
_P = ctypes.c_void_p
_F32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_I32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_PROTOTYPES = {
    "zf_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "zf_version": (ctypes.c_char_p, []),
    "zf_free": (None, [_P]),
    "zf_net_defaults": (None, [ctypes.POINTER(_NetOptions)]),
    "zf_init_defaults": (None, [ctypes.POINTER(_InitOptions)]),
    "zf_project_defaults": (None, [ctypes.POINTER(_ProjectOptions)]),
    "zf_occlusion_defaults": (None, [ctypes.POINTER(_OccOptions)]),
    "zf_invariance_defaults": (None, [ctypes.POINTER(_InvOptions)]),
    "zf_model_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_Overrides),
                                     ctypes.POINTER(_P), ctypes.POINTER(_Err)]),
    "zf_model_free": (None, [_P]),
    "zf_net_create": (ctypes.c_int, [_P, ctypes.POINTER(_NetOptions), ctypes.POINTER(_P),
                                     ctypes.POINTER(_Err)]),
    "zf_net_free": (None, [_P]),
    "zf_net_num_layers": (ctypes.c_int, [_P]),
    "zf_net_layer_info": (ctypes.c_int, [_P, ctypes.c_int, ctypes.POINTER(_LayerInfo)]),
    "zf_net_find_layer": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "zf_net_input_shape": (_Shape, [_P]),
    "zf_net_classes": (ctypes.c_int, [_P]),
    "zf_net_init_params": (None, [_P, ctypes.POINTER(_InitOptions)]),
    "zf_net_reserve": (ctypes.c_int, [_P, ctypes.c_int, ctypes.POINTER(_Err)]),
    "zf_net_set_input": (ctypes.c_int, [_P, _F32, ctypes.c_int, ctypes.POINTER(_Err)]),
    "zf_net_forward": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Err)]),
    "zf_net_read_output": (ctypes.c_int, [_P, ctypes.c_int, _F32, ctypes.POINTER(_Err)]),
    "zf_onnx_export": (ctypes.c_int, [_P, _P, ctypes.c_int, ctypes.c_char_p, _P]),
    "zf_onnx_import": (ctypes.c_int, [ctypes.c_char_p, _P, _P, _P, _P]),
    "zf_checkpoint_open": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_NetOptions),
                                          ctypes.POINTER(_P), ctypes.POINTER(_Prep),
                                          ctypes.POINTER(_Err)]),
    "zf_checkpoint_write": (ctypes.c_int, [_P, ctypes.c_char_p, _P, ctypes.POINTER(_Err)]),
    "zf_rule_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(_Err)]),
    "zf_lrn_rule_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(_Err)]),
    "zf_precision_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                          ctypes.POINTER(_Err)]),
    "zf_precision_name": (ctypes.c_char_p, [ctypes.c_int]),
    "zf_net_precision": (ctypes.c_int, [_P]),
    "zf_project": (ctypes.c_int, [_P, ctypes.c_int, _F32, ctypes.c_int,
                                  ctypes.POINTER(_ProjectOptions), _F32, _I32, _F32,
                                  ctypes.POINTER(_Err)]),
    "zf_gradcam": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int, _F32, ctypes.c_int,
                                  ctypes.c_int, _F32, _I32, _F32, ctypes.POINTER(_Err)]),
    "zf_data_prep_free": (None, [ctypes.POINTER(_Prep)]),
    "zf_occlusion_fill": (ctypes.c_int, [ctypes.POINTER(_Prep), _Shape, ctypes.c_double, _F32,
                                         ctypes.POINTER(_Err)]),
    "zf_occlusion": (ctypes.c_int, [_P, _F32, ctypes.c_int, _P, ctypes.POINTER(_OccOptions),
                                    ctypes.POINTER(_OccResult), ctypes.POINTER(_Err)]),
    "zf_occlusion_result_free": (None, [ctypes.POINTER(_OccResult)]),
    "zf_transform_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                          ctypes.POINTER(_Err)]),
    "zf_invariance": (ctypes.c_int, [_P, ctypes.POINTER(_Prep), _F32, ctypes.c_int, _P,
                                     ctypes.POINTER(_InvOptions), ctypes.POINTER(_InvResult),
                                     _P, ctypes.POINTER(_Err)]),
    "zf_invariance_result_free": (None, [ctypes.POINTER(_InvResult)]),
    "zf_correspondence": (ctypes.c_int, [_P, _F32, ctypes.c_int, _I32, _P, _I32, ctypes.c_int,
                                         ctypes.POINTER(ctypes.c_double), ctypes.POINTER(_Err)]),
    "zf_transfer_defaults": (None, [ctypes.POINTER(_TransferOptions)]),
    "zf_transfer": (ctypes.c_int, [ctypes.POINTER(_TransferOptions),
                                   ctypes.POINTER(_TransferResult), ctypes.POINTER(_Err)]),
    "zf_transfer_result_free": (None, [ctypes.POINTER(_TransferResult)]),
    "zf_probe_defaults": (None, [ctypes.POINTER(_ProbeOptions)]),
    "zf_probe": (ctypes.c_int, [ctypes.POINTER(_ProbeOptions), ctypes.POINTER(_ProbeResult),
                                ctypes.POINTER(_Err)]),
    "zf_probe_result_free": (None, [ctypes.POINTER(_ProbeResult)]),
    "zf_classifier_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                           ctypes.POINTER(_Err)]),
    "zf_pool_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(_Err)]),
    "zf_pool_maps": (None, [_F32, ctypes.c_int, _Shape, ctypes.c_int, ctypes.c_int, _F32]),
    "zf_linear_train": (ctypes.c_int, [ctypes.c_int, _F32, _I32, ctypes.c_int, ctypes.c_int,
                                       ctypes.c_int, ctypes.c_double, ctypes.c_uint64,
                                       ctypes.c_int, ctypes.POINTER(_P), ctypes.POINTER(_Err)]),
    "zf_linear_predict": (ctypes.c_int, [_P, _F32, ctypes.c_int, _I32, ctypes.POINTER(_Err)]),
    "zf_linear_free": (None, [_P]),
    "zf_per_class_accuracy": (ctypes.c_double, [_I32, _I32, ctypes.c_int, ctypes.c_int,
                                                ctypes.POINTER(ctypes.c_double)]),
    "zf_dataset_open": (ctypes.c_int, [ctypes.c_char_p, _P, ctypes.POINTER(_P),
                                       ctypes.POINTER(_Err)]),
    "zf_dataset_free": (None, [_P]),
    "zf_draw_per_class": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_uint64,
                                         ctypes.POINTER(ctypes.POINTER(ctypes.c_int)),
                                         ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_Err)]),
    "zf_mix64": (ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64]),
}


def library():
    """The loaded libzfnet (ctypes.CDLL), its functions typed."""
    global _lib
    if _lib is not None:
        return _lib
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("ZFNET_LIB"), os.path.join(here, "..", "build", SONAME),
                  os.path.join(here, "..", "..", "..", "lib", SONAME), SONAME,
                  ctypes.util.find_library("zfnet")]
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.isabs(c)):
            try:
                lib = ctypes.CDLL(c)
                break
            except OSError:
                continue
    else:
        raise Error(f"{SONAME} not found: set ZFNET_LIB to its path")
    for name, (res, args) in _PROTOTYPES.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    _lib = lib
    return lib


def version():
    """The library's version ("1.0.0")."""
    return library().zf_version().decode()


def _net_options(threads, seed=0, precision="fp32"):
    o = _NetOptions()
    library().zf_net_defaults(ctypes.byref(o))
    o.threads, o.seed = threads, seed
    o.precision = _enum(library().zf_precision_parse, precision)
    return o


def _check(status, err):
    if status:
        raise Error(err.msg.decode(errors="replace"))


def _enum(parse, name):
    v, err = ctypes.c_int(), _Err()
    _check(parse(name.encode(), ctypes.byref(v), ctypes.byref(err)), err)
    return v.value


class Net:
    """A zfnet net (zf_net): layers, weights, forward passes, projections, Grad-CAM."""

    def __init__(self, handle, prep=None):
        self._h = handle
        self._prep = prep  # the checkpoint's data preparation (_Prep), or None

    @classmethod
    def from_model(cls, model, classes=0, input_size=None, threads=0, seed=0, precision="fp32"):
        """A preset (zfnet, zfnet-mini, ...) or model file, weights zero until init().
        precision: "fp32", "bf16" (CPUs with AVX512-BF16) or "auto"."""
        lib, err, m, h = library(), _Err(), _P(), _P()
        ov = _Overrides(classes, *(input_size or (0, 0, 0)))
        _check(lib.zf_model_load(model.encode(), ctypes.byref(ov), ctypes.byref(m),
                                 ctypes.byref(err)), err)
        no = _net_options(threads, seed, precision)
        st = lib.zf_net_create(m, ctypes.byref(no), ctypes.byref(h), ctypes.byref(err))
        lib.zf_model_free(m)
        _check(st, err)
        return cls(h)

    @classmethod
    def from_checkpoint(cls, path, threads=0, precision="fp32"):
        """The net a checkpoint written by zfnet describes, with its weights."""
        lib, err, h = library(), _Err(), _P()
        no, prep = _net_options(threads, precision=precision), _Prep()
        _check(lib.zf_checkpoint_open(path.encode(), ctypes.byref(no), ctypes.byref(h),
                                      ctypes.byref(prep), ctypes.byref(err)), err)
        return cls(h, prep)

    @classmethod
    def from_onnx(cls, path, threads=0, precision="fp32"):
        """An ONNX graph of the ops zfnet computes (what `zfnet import` reads), with its
        weights and the data preparation a file zfnet exported records."""
        lib, err, h = library(), _Err(), _P()
        no, prep = _net_options(threads, precision=precision), _Prep()
        _check(lib.zf_onnx_import(path.encode(), ctypes.byref(no), ctypes.byref(h),
                                  ctypes.byref(prep), ctypes.byref(err)), err)
        return cls(h, prep)

    def export_onnx(self, path, opset=13):
        """The net as an ONNX graph (what `zfnet export` writes), with the checkpoint's data
        preparation as metadata."""
        err = _Err()
        prep = ctypes.byref(self._prep) if self._prep is not None else None
        _check(library().zf_onnx_export(self._h, prep, opset, path.encode(), ctypes.byref(err)),
               err)

    def close(self):
        if self._h:
            library().zf_net_free(self._h)
            self._h = None
        if self._prep is not None:
            library().zf_data_prep_free(ctypes.byref(self._prep))
            self._prep = None

    def __del__(self):
        self.close()

    def init(self, scheme="he", seed=1, std=0.01, bias=0.0):
        """Fresh weights: gaussian (std), he or xavier."""
        schemes = {"gaussian": 0, "he": 1, "xavier": 2}
        o = _InitOptions()
        library().zf_init_defaults(ctypes.byref(o))
        o.scheme, o.std, o.bias, o.seed = schemes[scheme], std, bias, seed
        library().zf_net_init_params(self._h, ctypes.byref(o))

    def save(self, path):
        """The weights as a safetensors checkpoint (PyTorch names and layouts)."""
        err = _Err()
        _check(library().zf_checkpoint_write(self._h, path.encode(), None, ctypes.byref(err)), err)

    @property
    def input_shape(self):
        s = library().zf_net_input_shape(self._h)
        return (s.c, s.h, s.w)

    @property
    def classes(self):
        return library().zf_net_classes(self._h)

    @property
    def precision(self):
        """"fp32" or "bf16": what the net computes in."""
        lib = library()
        return lib.zf_precision_name(lib.zf_net_precision(self._h)).decode()

    def layer(self, name):
        """Layer index of `name`."""
        i = library().zf_net_find_layer(self._h, name.encode())
        if i < 0:
            raise Error(f"no layer '{name}'")
        return i

    def layer_info(self, i):
        info = _LayerInfo()
        library().zf_net_layer_info(self._h, i, ctypes.byref(info))
        return {"name": info.name.decode(), "kind": info.kind,
                "out": (info.out.c, info.out.h, info.out.w), "params": info.params,
                "rf_size": info.rf_size, "rf_stride": info.rf_stride}

    @property
    def layers(self):
        return [self.layer_info(i)["name"] for i in range(library().zf_net_num_layers(self._h))]

    def _input(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise Error(f"input of shape {x.shape}; the net takes (n, {self.input_shape})")
        return x

    def forward(self, x, upto=None):
        """Layer `upto`'s output (default: the last layer) for inputs x (n, c, h, w): (n, c, h,
        w), or (n, c) from the first fully connected layer on (as PyTorch's)."""
        lib, err = library(), _Err()
        x = self._input(x)
        i = self.layer(upto) if upto else lib.zf_net_num_layers(self._h) - 1
        n = x.shape[0]
        _check(lib.zf_net_reserve(self._h, n, ctypes.byref(err)), err)
        _check(lib.zf_net_set_input(self._h, x, n, ctypes.byref(err)), err)
        _check(lib.zf_net_forward(self._h, 0, i, ctypes.byref(err)), err)
        out = np.zeros((n,) + self.layer_info(i)["out"], np.float32)
        _check(lib.zf_net_read_output(self._h, i, out, ctypes.byref(err)), err)
        fc = 4  # ZF_LAYER_FC
        return out.reshape(n, -1) if any(self.layer_info(j)["kind"] == fc
                                         for j in range(i + 1)) else out

    def project(self, x, layer, rule="deconvnet", lrn="default", map=None, unit=None, batch=16):
        """Project from `layer` down to the pixels (zf_project): the strongest map per input,
        or one map, or one unit (k, y, x). Returns (projections (n, c, h, w), maps, values)."""
        lib, err = library(), _Err()
        x = self._input(x)
        o = _ProjectOptions()
        lib.zf_project_defaults(ctypes.byref(o))
        o.rule, o.lrn = _enum(lib.zf_rule_parse, rule), _enum(lib.zf_lrn_rule_parse, lrn)
        o.batch = batch
        if map is not None:
            o.select, o.map = 1, map
        if unit is not None:
            o.select, (o.map, o.y, o.x) = 2, unit
        n = x.shape[0]
        proj = np.zeros_like(x)
        maps, values = np.zeros(n, np.int32), np.zeros(n, np.float32)
        _check(lib.zf_project(self._h, self.layer(layer), x, n, ctypes.byref(o), proj, maps,
                              values, ctypes.byref(err)), err)
        return proj, maps, values

    def gradcam(self, x, layer, klass=-1, batch=16):
        """Grad-CAM maps (n, 1, h, w) at `layer` (after its ReLU), the classes and their
        probabilities."""
        lib, err = library(), _Err()
        x = self._input(x)
        n = x.shape[0]
        cam = np.zeros((n, 1) + x.shape[2:], np.float32)
        classes, probs = np.zeros(n, np.int32), np.zeros(n, np.float32)
        _check(lib.zf_gradcam(self._h, self.layer(layer), klass, x, n, batch, cam, classes, probs,
                              ctypes.byref(err)), err)
        return cam, classes, probs

    def _fill(self, fill):
        """the occluder's input values: None = the data mean (0), else a grey level 0..255 as
        the checkpoint prepares images"""
        if fill is None:
            return None
        lib, err = library(), _Err()
        out = np.zeros(self.input_shape, np.float32)
        prep = ctypes.byref(self._prep) if self._prep is not None else None
        _check(lib.zf_occlusion_fill(prep, lib.zf_net_input_shape(self._h), float(fill), out,
                                     ctypes.byref(err)), err)
        return out

    def occlusion(self, x, size, stride, layer=None, map=-1, classes=None, fill=None, batch=32,
                  plain=False):
        """ZF Fig. 7 (zf_occlusion): per input a dict with the grid (ny, nx, y0, x0), the map
        followed and the class, and the maps (ny, nx): activation (b), prob (d), label and
        label_prob (e)."""
        lib, err = library(), _Err()
        x = self._input(x)
        n = x.shape[0]
        f = self._fill(fill)
        o = _OccOptions()
        lib.zf_occlusion_defaults(ctypes.byref(o))
        o.size, o.stride, o.fill = size, stride, f.ctypes.data if f is not None else None
        o.layer, o.map, o.batch = self.layer(layer) if layer else -1, map, batch
        o.plain = int(plain)
        cls = np.ascontiguousarray(classes, np.int32) if classes is not None else None
        if cls is not None and cls.shape != (n,):
            raise Error(f"{len(cls)} classes for {n} inputs")
        res = (_OccResult * n)()
        _check(lib.zf_occlusion(self._h, x, n, cls.ctypes.data if cls is not None else None,
                                ctypes.byref(o), res, ctypes.byref(err)), err)
        out = []
        for r in res:
            shape = (r.ny, r.nx)
            grab = lambda p, t: np.ctypeslib.as_array(p, shape=shape).astype(t)  # noqa: E731
            out.append({"ny": r.ny, "nx": r.nx, "y0": r.y0, "x0": r.x0, "map": r.map,
                        "class": r.klass, "base_prob": r.base_prob,
                        "base_activation": r.base_activation, "base_label": r.base_label,
                        "activation": grab(r.activation, np.float32),
                        "prob": grab(r.prob, np.float32), "label": grab(r.label, np.int64),
                        "label_prob": grab(r.label_prob, np.float32)})
            lib.zf_occlusion_result_free(ctypes.byref(r))
        return out

    def invariance(self, x, transform, start, stop, steps, layers, classes=None, batch=32):
        """ZF Fig. 5 (zf_invariance): per input a dict with the values, distance (layers,
        steps), prob and label (steps) and the class; and the transformed inputs (n, steps,
        c, h, w)."""
        lib, err = library(), _Err()
        x = self._input(x)
        n = x.shape[0]
        idx = np.array([self.layer(name) for name in layers], np.int32)
        o = _InvOptions()
        lib.zf_invariance_defaults(ctypes.byref(o))
        o.transform, o.start, o.stop = _enum(lib.zf_transform_parse, transform), start, stop
        o.steps, o.layers, o.nlayers, o.batch = steps, idx.ctypes.data, len(idx), batch
        cls = np.ascontiguousarray(classes, np.int32) if classes is not None else None
        if cls is not None and cls.shape != (n,):
            raise Error(f"{len(cls)} classes for {n} inputs")
        inputs = np.zeros((n, steps) + self.input_shape, np.float32)
        res = (_InvResult * n)()
        prep = ctypes.byref(self._prep) if self._prep is not None else None
        _check(lib.zf_invariance(self._h, prep, x, n, cls.ctypes.data if cls is not None else None,
                                 ctypes.byref(o), res, inputs.ctypes.data, ctypes.byref(err)), err)
        out = []
        for r in res:
            out.append({"class": r.klass, "base_prob": r.base_prob,
                        "values": np.ctypeslib.as_array(r.values, shape=(steps,)).copy(),
                        "distance": np.ctypeslib.as_array(r.distance,
                                                          shape=(len(idx), steps)).copy(),
                        "prob": np.ctypeslib.as_array(r.prob, shape=(steps,)).copy(),
                        "label": np.ctypeslib.as_array(r.label, shape=(steps,)).copy()})
            lib.zf_invariance_result_free(ctypes.byref(r))
        return out, inputs

    def correspondence(self, x, rects, layers, fill=None):
        """ZF Table 1's Delta (zf_correspondence) per layer, each input masked by its rectangle
        (x0, y0, x1, y1)."""
        lib, err = library(), _Err()
        x = self._input(x)
        r = np.ascontiguousarray(rects, np.int32).reshape(-1, 4)
        if r.shape[0] != x.shape[0]:
            raise Error(f"{r.shape[0]} rectangles for {x.shape[0]} inputs")
        idx = np.array([self.layer(name) for name in layers], np.int32)
        f = self._fill(fill)
        delta = (ctypes.c_double * len(idx))()
        _check(lib.zf_correspondence(self._h, x, x.shape[0], r,
                                     f.ctypes.data if f is not None else None, idx, len(idx),
                                     delta, ctypes.byref(err)), err)
        return np.array(delta[:])


def _arr(ptr, n):
    return np.ctypeslib.as_array(ptr, shape=(n,)).copy() if n else np.zeros(0)


_MODES = {"frozen": 0, "finetune": 1, "scratch": 2}


def transfer(weights, train, test, per_class=10, folds=5, mode="frozen", freeze=None,
             test_per_class=0, steps=500, batch=64, lr=0.01, weight_decay=5e-4, cache=True,
             seed=1, threads=0, save=None, precision="fp32"):
    """ZF 5.2 (zf_transfer): a pretrained checkpoint trained on per_class images per class of
    the set `train` (a dataset spec) in each of `folds` draws, scored on `test` by mean
    per-class accuracy. mode: "frozen" (layers up to `freeze` kept; a name or the paper's
    layer number; default everything below the last fc), "finetune" or "scratch". Returns a
    dict: accuracy (folds), class_accuracy (folds, classes), mean, std, seconds, ..."""
    lib, err, o, r = library(), _Err(), _TransferOptions(), _TransferResult()
    if mode not in _MODES:
        raise Error(f"no transfer mode '{mode}' (frozen, finetune, scratch)")
    lib.zf_transfer_defaults(ctypes.byref(o))
    o.checkpoint, o.train, o.test = weights.encode(), train.encode(), test.encode()
    o.mode, o.freeze = _MODES[mode], freeze.encode() if freeze else None
    o.per_class, o.folds, o.test_per_class = per_class, folds, test_per_class
    o.steps, o.batch, o.lr, o.weight_decay = steps, batch, lr, weight_decay
    o.cache, o.seed, o.threads = int(bool(cache)), seed, threads
    o.precision = _enum(lib.zf_precision_parse, precision)
    o.save = save.encode() if save else None
    _check(lib.zf_transfer(ctypes.byref(o), ctypes.byref(r), ctypes.byref(err)), err)
    out = {"folds": r.folds, "classes": r.classes, "frozen_through": r.freeze,
           "train_images": r.train_images, "test_images": r.test_images,
           "accuracy": _arr(r.accuracy, r.folds),
           "class_accuracy": _arr(r.class_accuracy, r.folds * r.classes).reshape(r.folds,
                                                                                r.classes),
           "mean": r.mean, "std": r.std, "seconds": r.seconds,
           "feature_seconds": r.feature_seconds}
    lib.zf_transfer_result_free(ctypes.byref(r))
    return out


def probe(weights, train, test, layers=None, classifiers=("svm", "softmax"), pool="max",
          grid=4, per_class=30, folds=5, test_per_class=0, holdout=0.2, seed=1, threads=0,
          precision="fp32"):
    """ZF Table 7 (zf_probe): linear classifiers on each layer's frozen features. Returns a
    dict: layers (indices), dims, and per classifier name {"accuracy": (layers, folds),
    "reg": (layers, folds), "mean": (layers), "std": (layers)}."""
    lib, err, o, r = library(), _Err(), _ProbeOptions(), _ProbeResult()
    lib.zf_probe_defaults(ctypes.byref(o))
    o.checkpoint, o.train, o.test = weights.encode(), train.encode(), test.encode()
    o.layers = ",".join(layers).encode() if layers else None
    o.svm, o.softmax = int("svm" in classifiers), int("softmax" in classifiers)
    o.pool, o.grid = _enum(lib.zf_pool_parse, pool), grid
    o.per_class, o.folds, o.test_per_class, o.holdout = per_class, folds, test_per_class, holdout
    o.seed, o.threads = seed, threads
    o.precision = _enum(lib.zf_precision_parse, precision)
    _check(lib.zf_probe(ctypes.byref(o), ctypes.byref(r), ctypes.byref(err)), err)
    nl, nf = r.nlayers, r.folds
    acc, reg = _arr(r.accuracy, 2 * nl * nf), _arr(r.reg, 2 * nl * nf)
    mean, std = _arr(r.mean, 2 * nl), _arr(r.std, 2 * nl)
    out = {"layers": _arr(r.layers, nl), "dims": _arr(r.dims, nl),
           "train_images": r.train_images, "test_images": r.test_images, "seconds": r.seconds}
    for k, name in enumerate(("softmax", "svm")):
        if name in classifiers:
            out[name] = {"accuracy": acc[k * nl * nf:(k + 1) * nl * nf].reshape(nl, nf),
                         "reg": reg[k * nl * nf:(k + 1) * nl * nf].reshape(nl, nf),
                         "mean": mean[k * nl:(k + 1) * nl], "std": std[k * nl:(k + 1) * nl]}
    lib.zf_probe_result_free(ctypes.byref(r))
    return out


class Linear:
    """A linear classifier on feature rows (zf_linear_train): "svm" (liblinear, as
    scikit-learn's LinearSVC; reg = C) or "softmax" (reg = weight decay)."""

    def __init__(self, kind, x, y, classes, reg, seed=1, threads=0):
        lib, err = library(), _Err()
        self._h = None
        x = np.ascontiguousarray(x, np.float32)
        y = np.ascontiguousarray(y, np.int32).reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise Error(f"rows {x.shape} and labels {y.shape} do not match")
        self._h = _P()
        _check(lib.zf_linear_train(_enum(lib.zf_classifier_parse, kind), x, y, x.shape[0],
                                   x.shape[1], classes, reg, seed, threads,
                                   ctypes.byref(self._h), ctypes.byref(err)), err)
        self.dim = x.shape[1]

    def predict(self, x):
        lib, err = library(), _Err()
        x = np.ascontiguousarray(x, np.float32).reshape(-1, self.dim)
        pred = np.zeros(x.shape[0], np.int32)
        _check(lib.zf_linear_predict(self._h, x, x.shape[0], pred, ctypes.byref(err)), err)
        return pred

    def __del__(self):
        if getattr(self, "_h", None):
            library().zf_linear_free(self._h)
            self._h = None


def pool_maps(x, pool, grid):
    """Maps x (n, c, h, w) pooled per channel to grid x grid cells (zf_pool_maps)."""
    lib = library()
    x = np.ascontiguousarray(x, np.float32)
    n, c, h, w = x.shape
    p = _enum(lib.zf_pool_parse, pool)
    out = np.zeros((n, c, grid, grid) if p else x.shape, np.float32)
    lib.zf_pool_maps(x, n, _Shape(c, h, w), p, grid, out)
    return out


def per_class_accuracy(pred, labels, classes):
    """The mean over classes of each class's accuracy (zf_per_class_accuracy), and the
    per-class values (NaN for classes with no example)."""
    pred = np.ascontiguousarray(pred, np.int32).reshape(-1)
    labels = np.ascontiguousarray(labels, np.int32).reshape(-1)
    if pred.shape != labels.shape:
        raise Error(f"{len(pred)} predictions for {len(labels)} labels")
    per = (ctypes.c_double * classes)()
    m = library().zf_per_class_accuracy(pred, labels, len(pred), classes, per)
    return m, np.array(per[:])


def draw_per_class(spec, n, seed):
    """The dataset items zf_draw_per_class draws: n per class of the set `spec`."""
    lib, err, d = library(), _Err(), _P()
    _check(lib.zf_dataset_open(spec.encode(), None, ctypes.byref(d), ctypes.byref(err)), err)
    idx, count = ctypes.POINTER(ctypes.c_int)(), ctypes.c_int()
    st = lib.zf_draw_per_class(d, n, seed, ctypes.byref(idx), ctypes.byref(count),
                               ctypes.byref(err))
    lib.zf_dataset_free(d)
    _check(st, err)
    out = _arr(idx, count.value)
    lib.zf_free(ctypes.cast(idx, ctypes.c_void_p))
    return out


def mix64(a, b):
    """zf_mix64: how fold f's seed is made from the seed (mix64(seed, f))."""
    return library().zf_mix64(a, b)
