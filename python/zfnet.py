"""zfnet from Python: libzfnet.so's C API through ctypes, numpy arrays in and out.

    import numpy as np, zfnet
    net = zfnet.Net.from_checkpoint("run/best.safetensors")      # or Net.from_model("zfnet-mini")
    y = net.forward(x, upto="conv3")                             # x: (n, c, h, w) float32
    proj, maps, values = net.project(x, "conv3", rule="deconvnet")
    cam, classes, probs = net.gradcam(x, "conv5")

The library is found as $ZFNET_LIB, then in ../build (this file in a source tree), then in
../../../lib (installed as PREFIX/share/zfnet/python/zfnet.py), then on the system's library
path. Errors raise zfnet.Error with the library's one-line message. Needs
numpy (Debian: python3-numpy).
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Error", "Net", "library"]


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
    _fields_ = [("backend", ctypes.c_int), ("threads", ctypes.c_int), ("seed", ctypes.c_uint64)]


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


_lib = None
_P = ctypes.c_void_p
_F32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_I32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_PROTOTYPES = {
    "zf_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "zf_model_load": (ctypes.c_int, [ctypes.POINTER(_P), ctypes.c_char_p,
                                     ctypes.POINTER(_Overrides), ctypes.POINTER(_Err)]),
    "zf_model_free": (None, [_P]),
    "zf_net_create": (ctypes.c_int, [ctypes.POINTER(_P), _P, ctypes.POINTER(_NetOptions),
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
    "zf_checkpoint_open": (ctypes.c_int, [ctypes.POINTER(_P), _P, ctypes.c_char_p,
                                          ctypes.POINTER(_NetOptions), ctypes.POINTER(_Err)]),
    "zf_checkpoint_write": (ctypes.c_int, [_P, ctypes.c_char_p, _P, ctypes.POINTER(_Err)]),
    "zf_rule_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(_Err)]),
    "zf_lrn_rule_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(_Err)]),
    "zf_project": (ctypes.c_int, [_P, ctypes.c_int, _F32, ctypes.c_int,
                                  ctypes.POINTER(_ProjectOptions), _F32, _I32, _F32,
                                  ctypes.POINTER(_Err)]),
    "zf_gradcam": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int, _F32, ctypes.c_int,
                                  ctypes.c_int, _F32, _I32, _F32, ctypes.POINTER(_Err)]),
}


def library():
    """The loaded libzfnet (ctypes.CDLL), its functions typed."""
    global _lib
    if _lib is not None:
        return _lib
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("ZFNET_LIB"), os.path.join(here, "..", "build", "libzfnet.so"),
                  os.path.join(here, "..", "..", "..", "lib", "libzfnet.so"),
                  ctypes.util.find_library("zfnet")]
    for c in candidates:
        if c and (os.path.exists(c) or not os.path.isabs(c)):
            try:
                lib = ctypes.CDLL(c)
                break
            except OSError:
                continue
    else:
        raise Error("libzfnet.so not found: set ZFNET_LIB to its path")
    for name, (res, args) in _PROTOTYPES.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    _lib = lib
    return lib


def _check(status, err):
    if status:
        raise Error(err.msg.decode(errors="replace"))


def _enum(parse, name):
    v, err = ctypes.c_int(), _Err()
    _check(parse(name.encode(), ctypes.byref(v), ctypes.byref(err)), err)
    return v.value


class Net:
    """A zfnet net (zf_net): layers, weights, forward passes, projections, Grad-CAM."""

    def __init__(self, handle):
        self._h = handle

    @classmethod
    def from_model(cls, model, classes=0, input_size=None, threads=0, seed=0):
        """A preset (zfnet, zfnet-mini, ...) or model file, weights zero until init()."""
        lib, err, m, h = library(), _Err(), _P(), _P()
        ov = _Overrides(classes, *(input_size or (0, 0, 0)))
        _check(lib.zf_model_load(ctypes.byref(m), model.encode(), ctypes.byref(ov),
                                 ctypes.byref(err)), err)
        no = _NetOptions(0, threads, seed)
        st = lib.zf_net_create(ctypes.byref(h), m, ctypes.byref(no), ctypes.byref(err))
        lib.zf_model_free(m)
        _check(st, err)
        return cls(h)

    @classmethod
    def from_checkpoint(cls, path, threads=0):
        """The net a checkpoint written by zfnet describes, with its weights."""
        lib, err, h = library(), _Err(), _P()
        no = _NetOptions(0, threads, 0)
        _check(lib.zf_checkpoint_open(ctypes.byref(h), None, path.encode(), ctypes.byref(no),
                                      ctypes.byref(err)), err)
        return cls(h)

    def close(self):
        if self._h:
            library().zf_net_free(self._h)
            self._h = None

    def __del__(self):
        self.close()

    def init(self, scheme="he", seed=1, std=0.01, bias=0.0):
        """Fresh weights: gaussian (std), he or xavier."""
        schemes = {"gaussian": 0, "he": 1, "xavier": 2}
        library().zf_net_init_params(self._h, ctypes.byref(_InitOptions(schemes[scheme], std,
                                                                         bias, seed)))

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
        o = _ProjectOptions(_enum(lib.zf_rule_parse, rule), _enum(lib.zf_lrn_rule_parse, lrn),
                            0, 0, 0, 0, batch)
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
