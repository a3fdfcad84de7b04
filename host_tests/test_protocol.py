"""Driver bookkeeping shared by the board driver and the performance model (pynq_depth.protocol)."""

import numpy as np


def test_changed_registers_writes_all_when_unknown_then_only_differences():
    from pynq_depth.protocol import REGISTERS, changed_registers

    regs = dict.fromkeys(REGISTERS, 0)
    assert changed_registers(None, regs) == list(REGISTERS)
    assert changed_registers(regs, dict(regs)) == []
    assert changed_registers(regs, dict(regs, in_h=5, lo=-3)) == ["in_h", "lo"]  # in register order


def test_recorded_layer_replays_its_calls_and_copies_only_for_the_same_inputs():
    from pynq_depth.protocol import RecordedLayer

    x, skip = np.zeros(4), None
    source, target = np.arange(3), np.zeros(3, dtype=np.int64)
    flushed, made = [], []

    class Slot:
        def flush(self) -> None:
            flushed.append(True)

    record = RecordedLayer((x, skip), (("regs1", "a"), ("regs2", "b")), target, ((target, source),), Slot())
    assert record.matches((x, None)) and not record.matches((x.copy(), None)) and not record.matches((x,))
    out = record.replay(lambda *call: made.append(call))
    assert out is target and made == [("regs1", "a"), ("regs2", "b")] and flushed == [True]
    np.testing.assert_array_equal(target, source)
