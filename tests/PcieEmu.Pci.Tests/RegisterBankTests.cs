using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Pci.Tests;

/// <summary>Generic register semantics (style.md §3.1.2, §4.1; audio spec §3 access rules).</summary>
public class RegisterBankTests
{
    private static RegisterBank NewBank(ulong size = 0x100) => new("test", size, NullLogger.Instance);

    private static RegisterDefinition Reg(string name, uint offset, ulong reset = 0, ulong writable = 0, ulong w1c = 0,
        ulong? read = null, ulong readClear = 0, ulong? implemented = null, int width = 4, RegisterWriteHandler? onWrite = null,
        RegisterReadHandler? onRead = null)
    {
        ulong all = width == 8 ? ulong.MaxValue : 0xFFFF_FFFF;
        return new RegisterDefinition(name, offset, width, reset, implemented ?? all, writable, w1c, read ?? all, readClear, onWrite, onRead);
    }

    // ------------------------------------------------------------------ masks

    [Fact]
    public void Rw_bits_take_the_write_and_ro_bits_keep_their_value()
    {
        var bank = NewBank();
        bank.Define(Reg("CTL", 0x10, reset: 0xA5A5_0000, writable: 0x0000_FFFF));

        bank.Write(0x10, AccessSize.Dword, 0x1234_5678);

        bank.Read(0x10, AccessSize.Dword).Should().Be(0xA5A5_5678);
    }

    [Fact]
    public void Read_only_register_ignores_writes()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadOnly("ID", 0, 0x5045_4155));
        bank.Write(0, AccessSize.Dword, 0);
        bank.Read(0, AccessSize.Dword).Should().Be(0x5045_4155);
    }

    [Fact]
    public void Write_only_bits_read_as_zero_but_are_stored()
    {
        var bank = NewBank();
        bank.Define(Reg("DOORBELL", 0x20, writable: 0xFF, read: 0xFF00, implemented: 0xFFFF, reset: 0x1200));

        bank.Write(0x20, AccessSize.Dword, 0x5A);

        bank.Read(0x20, AccessSize.Dword).Should().Be(0x1200);
        bank.Get(0x20).Should().Be(0x125A);
    }

    [Fact]
    public void W1c_bits_clear_where_one_is_written()
    {
        var bank = NewBank();
        bank.Define(Reg("STS", 0x24, reset: 0b0111, w1c: 0b0111));

        bank.Write(0x24, AccessSize.Dword, 0b0101);

        bank.Read(0x24, AccessSize.Dword).Should().Be(0b0010);
        bank.Write(0x24, AccessSize.Dword, 0);
        bank.Read(0x24, AccessSize.Dword).Should().Be(0b0010, "writing 0 clears nothing");
    }

    [Fact]
    public void Read_clear_bits_clear_after_the_read_returns_them()
    {
        var bank = NewBank();
        bank.Define(Reg("EVT", 0x28, reset: 0x0000_00F3, readClear: 0x0000_00F0));

        bank.Read(0x28, AccessSize.Dword).Should().Be(0xF3);
        bank.Read(0x28, AccessSize.Dword).Should().Be(0x03);
    }

    [Fact]
    public void Read_clear_only_clears_the_lanes_that_were_read()
    {
        var bank = NewBank();
        bank.Define(Reg("EVT", 0x28, reset: 0xFF00_FF00, readClear: 0xFFFF_FFFF));

        bank.Read(0x29, AccessSize.Byte).Should().Be(0xFF);

        bank.Get(0x28).Should().Be(0xFF00_0000);
    }

    [Fact]
    public void Read_handler_supplies_the_value_and_the_read_mask_still_applies()
    {
        var bank = NewBank();
        ulong counter = 0;
        bank.Define(Reg("CNT", 0x2C, read: 0x0000_FFFF, onRead: (_, stored) => stored + ++counter + 0xABCD_0000));

        bank.Read(0x2C, AccessSize.Dword).Should().Be(1);
        bank.Read(0x2C, AccessSize.Dword).Should().Be(2);
    }

    // ------------------------------------------------------------------ byte lanes (audio spec §3)

    [Fact]
    public void Narrow_writes_only_touch_their_lanes()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadWrite("SCRATCH", 0x30, reset: 0x1122_3344));

        bank.Write(0x31, AccessSize.Byte, 0xAA);
        bank.Get(0x30).Should().Be(0x1122_AA44);
        bank.Write(0x32, AccessSize.Word, 0xBBCC);
        bank.Get(0x30).Should().Be(0xBBCC_AA44);

        bank.Read(0x33, AccessSize.Byte).Should().Be(0xBB);
        bank.Read(0x30, AccessSize.Word).Should().Be(0xAA44);
    }

    [Fact]
    public void W1c_clears_only_in_the_written_lanes()
    {
        var bank = NewBank();
        bank.Define(Reg("STS", 0x24, reset: 0xFFFF_FFFF, w1c: 0xFFFF_FFFF));

        bank.Write(0x25, AccessSize.Byte, 0xFF);

        bank.Get(0x24).Should().Be(0xFFFF_00FF);
    }

    [Fact]
    public void Eight_byte_access_over_two_32bit_registers_splits()
    {
        var bank = NewBank();
        var writes = new List<(string, ulong)>();
        RegisterWriteHandler log = (in RegisterWrite w) => writes.Add((w.Register.Name, w.NewValue));
        bank.Define(RegisterDefinition.ReadWrite("LO", 0x40, onWrite: log));
        bank.Define(RegisterDefinition.ReadWrite("HI", 0x44, onWrite: log));

        bank.Write(0x40, AccessSize.Qword, 0x1111_2222_3333_4444);

        bank.Get(0x40).Should().Be(0x3333_4444);
        bank.Get(0x44).Should().Be(0x1111_2222);
        writes.Should().Equal(("LO", 0x3333_4444UL), ("HI", 0x1111_2222UL));
        bank.Read(0x40, AccessSize.Qword).Should().Be(0x1111_2222_3333_4444);
    }

    [Fact]
    public void A_64bit_register_takes_two_4_byte_writes_low_half_first()
    {
        var bank = NewBank();
        var lanes = new List<ulong>();
        bank.Define(Reg("ADDR", 0x48, writable: ulong.MaxValue, width: 8, onWrite: (in RegisterWrite w) => lanes.Add(w.LaneMask)));

        bank.Write(0x48, AccessSize.Dword, 0x8765_4321);
        bank.Write(0x4C, AccessSize.Dword, 0x0000_0001);

        bank.Get(0x48).Should().Be(0x0000_0001_8765_4321);
        bank.Read(0x4C, AccessSize.Dword).Should().Be(1);
        bank.Read(0x48, AccessSize.Qword).Should().Be(0x0000_0001_8765_4321);
        lanes.Should().Equal(0x0000_0000_FFFF_FFFFUL, 0xFFFF_FFFF_0000_0000UL);

        bank.Write(0x48, AccessSize.Qword, 0xAAAA_BBBB_CCCC_DDDD);
        bank.Get(0x4C).Should().Be(0xAAAA_BBBB_CCCC_DDDD, "Get at either half names the same register");
    }

    // ------------------------------------------------------------------ unclaimed offsets (style.md §3.1.5)

    [Fact]
    public void Unclaimed_offsets_read_all_ones()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadWrite("R", 0x00, reset: 0x1234_5678));

        bank.Read(0x80, AccessSize.Dword).Should().Be(0xFFFF_FFFF);
        bank.Read(0x80, AccessSize.Qword).Should().Be(ulong.MaxValue);
        bank.Read(0x81, AccessSize.Byte).Should().Be(0xFF);
        bank.Read(0x00, AccessSize.Qword).Should().Be(0xFFFF_FFFF_1234_5678, "0xFF per unclaimed byte, the register for the rest");
        bank.Read(0x200, AccessSize.Dword).Should().Be(0xFFFF_FFFF, "beyond the bank as well");
    }

    [Fact]
    public void Unclaimed_writes_are_ignored_and_counted()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadWrite("R", 0x00));
        bank.Define(RegisterDefinition.ReadWrite("S", 0x08));
        bank.UnclaimedAccesses.Should().Be(0);

        bank.Write(0x04, AccessSize.Byte, 0xFF);
        bank.UnclaimedAccesses.Should().Be(1);

        bank.Write(0x04, AccessSize.Dword, 0xFFFF_FFFF);
        bank.Write(0x00, AccessSize.Qword, ulong.MaxValue);
        bank.UnclaimedAccesses.Should().BeGreaterThan(1);

        bank.Get(0x00).Should().Be(0xFFFF_FFFF, "the claimed half of the 8-byte write landed");
        bank.Get(0x08).Should().Be(0, "a neighbour was not disturbed");
        bank.Find(0x04).Should().BeNull();
    }

    [Fact]
    public void Unclaimed_reads_are_counted_too()
    {
        var bank = NewBank();
        bank.Read(0x10, AccessSize.Byte);
        bank.UnclaimedAccesses.Should().Be(1);
    }

    [Fact]
    public void Writes_to_reserved_bits_still_apply_the_implemented_bits()
    {
        var bank = NewBank();
        bank.Define(Reg("CTL", 0x10, writable: 0x0F, implemented: 0x0F, read: 0x0F));

        bank.Write(0x10, AccessSize.Dword, 0xFFFF_FFF5);

        bank.Get(0x10).Should().Be(0x05);
        bank.Read(0x10, AccessSize.Dword).Should().Be(0x05, "reserved bits read 0");
    }

    // ------------------------------------------------------------------ side effects, reset

    [Fact]
    public void Side_effect_receives_old_and_new_values_and_the_written_lanes()
    {
        var bank = NewBank();
        var seen = new List<RegisterWrite>();
        bank.Define(Reg("STS", 0x24, reset: 0b1111, w1c: 0b0011, writable: 0b1100, onWrite: (in RegisterWrite w) => seen.Add(w)));

        bank.Write(0x24, AccessSize.Dword, 0b0101);

        var write = seen.Should().ContainSingle().Subject;
        write.OldValue.Should().Be(0b1111);
        write.NewValue.Should().Be(0b0110);
        write.Written.Should().Be(0b0101);
        write.LaneMask.Should().Be(0xFFFF_FFFF);
        write.OnesWritten.Should().Be(0b0101);
        write.Rose(0b0100).Should().BeFalse();
        write.Register.Name.Should().Be("STS");
    }

    [Fact]
    public void RegisterWrite_Rose_detects_a_zero_to_one_change()
    {
        var bank = NewBank();
        RegisterWrite last = default;
        bank.Define(RegisterDefinition.ReadWrite("CTL", 0x10, onWrite: (in RegisterWrite w) => last = w));
        bank.Write(0x10, AccessSize.Dword, 1);
        last.Rose(1).Should().BeTrue();
        bank.Write(0x10, AccessSize.Dword, 1);
        last.Rose(1).Should().BeFalse();
    }

    [Fact]
    public void Byte_write_side_effect_sees_lane_positions_in_register_bits()
    {
        var bank = NewBank();
        RegisterWrite last = default;
        bank.Define(RegisterDefinition.ReadWrite("CTL", 0x10, onWrite: (in RegisterWrite w) => last = w));
        bank.Write(0x12, AccessSize.Byte, 0xAB);
        last.LaneMask.Should().Be(0x00FF_0000);
        last.Written.Should().Be(0x00AB_0000);
    }

    [Fact]
    public void Reset_restores_reset_values_without_side_effects()
    {
        var bank = NewBank();
        int effects = 0;
        bank.Define(RegisterDefinition.ReadWrite("A", 0x00, reset: 0x1234, onWrite: (in RegisterWrite _) => effects++));
        bank.Define(Reg("STS", 0x04, reset: 0xF, w1c: 0xF));
        bank.Write(0x00, AccessSize.Dword, 0);
        bank.Write(0x04, AccessSize.Dword, 0xF);
        bank.Set(0x04, 0x0);

        bank.Reset();

        bank.Get(0x00).Should().Be(0x1234);
        bank.Get(0x04).Should().Be(0xF);
        effects.Should().Be(1);
    }

    [Fact]
    public void SetResetValue_changes_the_value_now_and_at_the_next_reset()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadOnly("CAPS", 0x08, 0));
        bank.SetResetValue(0x08, 0x1_0004_0101); // wider than the register: masked to 32 bits
        bank.Get(0x08).Should().Be(0x0004_0101);
        bank.Set(0x08, 0);
        bank.Reset();
        bank.Read(0x08, AccessSize.Dword).Should().Be(0x0004_0101);
        bank.Registers[0].ResetValue.Should().Be(0x0004_0101);
    }

    [Fact]
    public void Device_side_set_get_ignore_masks()
    {
        var bank = NewBank();
        bank.Define(RegisterDefinition.ReadOnly("STS", 0x5C, 0));
        bank.SetBits(0x5C, 0b101);
        bank.ClearBits(0x5C, 0b001);
        bank.Get(0x5C).Should().Be(0b100);
        var act = () => bank.Get(0x60);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    // ------------------------------------------------------------------ definition validation (style.md §4.1)

    [Fact]
    public void Overlapping_definitions_are_rejected()
    {
        var bank = NewBank();
        bank.Define(Reg("WIDE", 0x08, width: 8));
        var act = () => bank.Define(RegisterDefinition.ReadWrite("NARROW", 0x0C));
        act.Should().Throw<ArgumentException>().WithMessage("*NARROW*WIDE*");

        var same = () => bank.Define(RegisterDefinition.ReadWrite("AGAIN", 0x08));
        same.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData(0x02u, 4)]  // misaligned
    [InlineData(0x04u, 8)]  // 64-bit not 8-aligned
    [InlineData(0xFCu, 8)]  // beyond the bank
    [InlineData(0x100u, 4)] // beyond the bank
    [InlineData(0x10u, 2)]  // unsupported width
    public void Misplaced_or_odd_width_registers_are_rejected(uint offset, int width)
    {
        var bank = NewBank();
        ulong all = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
        var act = () => bank.Define(new RegisterDefinition("R", offset, width, 0, all, all, 0, all));
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Masks_wider_than_the_register_are_rejected()
    {
        var bank = NewBank();
        var act = () => bank.Define(new RegisterDefinition("R", 0, 4, 0, 0xFFFF_FFFF, 0x1_0000_0000, 0, 0xFFFF_FFFF));
        act.Should().Throw<ArgumentException>().WithMessage("*width*");
    }

    [Fact]
    public void A_bit_cannot_be_both_writable_and_w1c()
    {
        var bank = NewBank();
        var act = () => bank.Define(Reg("R", 0, writable: 0b11, w1c: 0b10));
        act.Should().Throw<ArgumentException>().WithMessage("*W1C*");
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(6UL)]
    [InlineData((16UL << 20) + 4)]
    public void Bank_size_must_be_a_multiple_of_4_up_to_16MiB(ulong size)
    {
        var act = () => new RegisterBank("b", size, NullLogger.Instance);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
