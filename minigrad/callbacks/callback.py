"""The Callback base class and CallbackList (Keras 3's keras/src/callbacks/callback.py
and callback_list.py): every hook, called with a dict `logs`."""
from __future__ import annotations

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
         "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base of every callback. Override the hooks you need; `self.model` is the
    model being trained, evaluated or run, `self.params` holds `epochs`, `steps`
    and `verbose`. `on_train_batch_begin`/`_end` call the older
    `on_batch_begin`/`_end`, as in Keras."""

    model = None
    params: dict = {}

    def __init__(self):
        self.params = {}
        self.model = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self.model = model

    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass
    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass


class CallbackList(Callback):
    """Calls each hook on every callback in order. `add_history`/`add_progbar`
    append a History/ProgbarLogger unless one is there, as Keras's does (after
    the user's callbacks, so that History records what they added to the logs)."""

    def __init__(self, callbacks=None, add_history: bool = False, add_progbar: bool = False,
                 model=None, **params):
        super().__init__()
        if callbacks is not None and not isinstance(callbacks, (list, tuple, CallbackList)):
            raise TypeError(f"`callbacks` must be a list of Callbacks, got "
                            f"{type(callbacks).__name__}")
        self.callbacks = list(callbacks.callbacks if isinstance(callbacks, CallbackList)
                              else callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be minigrad.callbacks.Callback instances, got "
                                f"{type(c).__name__}")
        from .logging import History, ProgbarLogger
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params: dict) -> None:
        self.params = params
        for c in self.callbacks:
            c.set_params(params)

    def set_model(self, model) -> None:
        self.model = model
        if self._history is not None:
            model.history = self._history
        for c in self.callbacks:
            c.set_model(model)

    def __iter__(self):
        return iter(self.callbacks)


def _dispatch(hook: str, batch_or_epoch: bool):
    if batch_or_epoch:
        def call(self, index, logs=None):
            logs = {} if logs is None else logs
            for c in self.callbacks:
                getattr(c, hook)(index, logs)
    else:
        def call(self, logs=None):
            logs = {} if logs is None else logs
            for c in self.callbacks:
                getattr(c, hook)(logs)
    call.__name__ = hook
    return call


for _hook in HOOKS:
    setattr(CallbackList, _hook, _dispatch(_hook, "batch" in _hook or "epoch" in _hook))
