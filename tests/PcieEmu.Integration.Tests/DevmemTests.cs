using PcieEmu.Devices.AudioCard;
using PcieEmu.Pci;

namespace PcieEmu.Integration.Tests;

/// <summary>BAR accesses from the guest with busybox devmem (no driver bound, so the BARs are free).</summary>
public sealed class DevmemTests(BareGuest guest) : IClassFixture<BareGuest>
{
    private async Task<ulong> Bar0() => await GuestDevice.BarAddress(guest, guest.Audio.Model.RegistersBar.Index);

    [Fact]
    public async Task A_32_bit_register_write_reads_back_and_reaches_the_device()
    {
        ulong scratch = await Bar0() + (ulong)AudioRegister.Scratch;
        await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32 0xcafe1234");

        (await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32")).Trim().Should().Be("0xCAFE1234");
        guest.Audio.PeekRegister(AudioRegister.Scratch).Should().Be(0xCAFE1234);
    }

    [Fact]
    public async Task A_64_bit_access_is_one_8_byte_region_access()
    {
        ulong scratch64 = await Bar0() + (ulong)AudioRegister.Scratch64;
        await guest.Run($"devmem {GuestDevice.Hex(scratch64)} 64 0x0123456789abcdef");

        (await guest.Run($"devmem {GuestDevice.Hex(scratch64)} 64")).Trim().Should().Be("0x0123456789ABCDEF");
        guest.Audio.PeekRegister(AudioRegister.Scratch64).Should().Be(0x0123456789ABCDEFUL);
    }

    [Fact]
    public async Task Read_only_registers_ignore_writes_and_unclaimed_offsets_read_all_ones()
    {
        ulong bar0 = await Bar0();
        await guest.Run($"devmem {GuestDevice.Hex(bar0)} 32 0");

        (await guest.Run($"devmem {GuestDevice.Hex(bar0)} 32")).Trim().Should().Be("0x50454155", "ID is read-only (spec §4)");
        (await guest.Run($"devmem {GuestDevice.Hex(bar0 + 0x2000)} 32")).Trim().Should().Be("0xFFFFFFFF", "unclaimed offsets read all-ones (spec §3)");
    }

    [Fact]
    public async Task Sram_is_mapped_into_the_guest_and_shared_with_the_device_without_messages()
    {
        var sram = guest.Audio.Model.SramBar!;
        ulong address = await GuestDevice.BarAddress(guest, sram.Index) + 0x100;
        long barWritesBefore = guest.Audio.Function.Statistics.BarWrites;

        await guest.Run($"devmem {GuestDevice.Hex(address)} 32 0x5a5aa5a5");

        var bytes = new byte[4];
        guest.Audio.Sram!.TryRead(0x100, bytes).Should().BeTrue();
        BitConverter.ToUInt32(bytes).Should().Be(0x5a5aa5a5);
        guest.Audio.Function.Statistics.BarWrites.Should().Be(barWritesBefore, "an mmapped SRAM write must not travel as a REGION_WRITE");

        guest.Audio.Sram!.TryWrite(0x104, BitConverter.GetBytes(0x11223344u)).Should().BeTrue();
        (await guest.Run($"devmem {GuestDevice.Hex(address + 4)} 32")).Trim().Should().Be("0x11223344");
    }

    [Fact]
    public async Task In_D3hot_bar_accesses_do_not_reach_the_card_and_D0_keeps_its_state()
    {
        ulong scratch = await Bar0() + (ulong)AudioRegister.Scratch;
        await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32 0x600d600d");
        await guest.Run($"setpci -s {GuestDevice.Bdf} CAP_PM+4.w=0003");
        guest.Audio.Function.PowerState.Should().Be(PcieEmu.Pci.Capabilities.PowerState.D3Hot);
        long barReads = guest.Audio.Function.Statistics.BarReads;

        // QEMU unmaps a function's BARs while it is in D3hot: the read is answered without asking the card.
        (await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32")).Trim().Should().NotBe("0x600D600D");
        guest.Audio.Function.Statistics.BarReads.Should().Be(barReads);

        await guest.Run($"setpci -s {GuestDevice.Bdf} CAP_PM+4.w=0000");
        guest.Audio.Function.PowerState.Should().Be(PcieEmu.Pci.Capabilities.PowerState.D0);
        (await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32")).Trim().Should().Be("0x600D600D", "No_Soft_Reset=1 keeps state (spec §7)");
    }

    [Fact]
    public async Task A_function_level_reset_from_the_guest_resets_the_device()
    {
        ulong scratch = await Bar0() + (ulong)AudioRegister.Scratch;
        await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32 0x12345678");
        var kinds = new List<ResetKind>();
        guest.Audio.Function.OnReset(k =>
        {
            lock (kinds)
            {
                kinds.Add(k);
            }
        });

        string methods = await guest.Run($"cat {GuestDevice.SysfsDir}/reset_method");
        methods.Should().Contain("flr");
        await guest.Run($"echo flr > {GuestDevice.SysfsDir}/reset_method && echo 1 > {GuestDevice.SysfsDir}/reset");

        lock (kinds)
        {
            kinds.Should().Contain(ResetKind.FunctionLevel);
        }

        guest.Audio.PeekRegister(AudioRegister.Scratch).Should().Be(0, "FLR returns registers to reset values (spec §7)");
        (await guest.Run($"devmem {GuestDevice.Hex(scratch)} 32")).Trim().Should().Be("0x00000000");
    }
}
