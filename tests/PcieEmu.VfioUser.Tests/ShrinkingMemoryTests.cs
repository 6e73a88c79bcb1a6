using PcieEmu.Interop;
using PcieEmu.Pci.Dma;
using PcieEmu.VfioUser.Client;
using PcieEmu.VfioUser.Tests.Infrastructure;

namespace PcieEmu.VfioUser.Tests;

/// <summary>
/// Memory a client can shrink under the server (issue: DMA_MAP a memfd, then ftruncate(fd, 0), and the next device
/// DMA killed the process with SIGBUS → AccessViolationException). Sealed memfds (QEMU's RAM) are copied with
/// plain loads and stores; anything else is fault-checked. The server's own shared BAR memory is sealed, so a
/// client cannot do the same to the device.
/// </summary>
public sealed class ShrinkingMemoryTests
{
    private const int RamSize = 1 << 20;

    [Fact]
    public void Unsealed_guest_ram_that_shrinks_fails_device_dma_without_crashing_the_server()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var ram = MemFd.Create("unsealed-ram", RamSize);
        h.Client.DmaMap(0, RamSize, DmaMapFlags.ReadWrite, ram);
        h.Function.DmaMappings.Mappings.Single().BackingKind.Should().Be("mmap-checked");
        var buffer = new byte[4096];
        h.Function.DmaMappings.Write(0x1000, buffer).Should().Be(DmaResult.Ok);
        h.Function.DmaMappings.Read(0x1000, buffer).Should().Be(DmaResult.Ok);

        Libc.ftruncate(ram, 0).Should().Be(0, "the client owns its file and may shrink it");

        h.Function.DmaMappings.Read(0x1000, buffer).Should().Be(DmaResult.TransportError);
        h.Function.DmaMappings.Write(0x1000, buffer).Should().Be(DmaResult.TransportError);
        h.Function.DmaMappings.Read(RamSize - 16, buffer.AsSpan(0, 16)).Should().Be(DmaResult.TransportError);
        var id = new byte[4];
        h.Client.RegionRead(TestDevice.RegsBar, TestDevice.IdRegister, id).Should().Be(4, "the session goes on");
        BitConverter.ToUInt32(id).Should().Be(TestDevice.IdValue);
    }

    [Fact]
    public void Unsealed_guest_ram_that_shrinks_partly_keeps_the_pages_still_there()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var ram = MemFd.Create("half-ram", RamSize);
        h.Client.DmaMap(0, RamSize, DmaMapFlags.ReadWrite, ram);
        var pattern = Enumerable.Range(0, 64).Select(i => (byte)(i * 3)).ToArray();
        h.Function.DmaMappings.Write(0x100, pattern).Should().Be(DmaResult.Ok);

        Libc.ftruncate(ram, RamSize / 2).Should().Be(0);

        var back = new byte[64];
        h.Function.DmaMappings.Read(0x100, back).Should().Be(DmaResult.Ok);
        back.Should().Equal(pattern);
        h.Function.DmaMappings.Read((RamSize / 2) - 32, back).Should().Be(DmaResult.TransportError, "the range runs into the cut-off half");
    }

    [Fact]
    public void Sealed_guest_ram_uses_plain_copies_and_cannot_shrink()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var ram = MemFd.Create("sealed-ram", RamSize, sealSize: true);
        h.Client.DmaMap(0, RamSize, DmaMapFlags.ReadWrite, ram);
        h.Function.DmaMappings.Mappings.Single().BackingKind.Should().Be("mmap");

        Libc.ftruncate(ram, 0).Should().Be(-1);
        Libc.LastErrno.Should().Be(Errno.EPERM);
        h.Function.DmaMappings.Read(0x1000, new byte[16]).Should().Be(DmaResult.Ok);
    }

    [Fact]
    public void The_shared_bar_memory_handed_to_the_client_cannot_be_shrunk_by_it()
    {
        using var h = ServerHarness.Start(TransportKind.SocketPair);
        using var region = h.Client.GetRegionInfo(TestDevice.ShmBar);
        region.Mmappable.Should().BeTrue();
        using var fd = region.TakeFd()!;

        Libc.ftruncate(fd, 0).Should().Be(-1, "the server sealed its memfd's size");
        Libc.LastErrno.Should().Be(Errno.EPERM);
        var b = new byte[8];
        h.Client.RegionRead(TestDevice.ShmBar, TestDevice.ShmSize - 8, b).Should().Be(8, "the device still reaches its whole memory");
    }
}
