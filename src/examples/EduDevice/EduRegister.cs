namespace PcieEmu.Examples.Edu;

/// <summary>BAR0 register offsets (README.md §3). Access class and meaning per member.</summary>
public enum EduRegister : uint
{
    /// <summary>RO 0x010000ED: version 1.0 in bits 31:16, 0xED in bits 7:0.</summary>
    Id = 0x00,

    /// <summary>RW: reads return the bitwise inverse of the last value written (a liveness check).</summary>
    Invert = 0x04,

    /// <summary>RW, bits 7:0: writing N starts N! (ignored while STATUS.FACT_BUSY).</summary>
    FactorialInput = 0x08,

    /// <summary>RO 64-bit: N! modulo 2^64 of the last computation.</summary>
    FactorialResult = 0x10,

    /// <summary>RO: bit 0 FACT_BUSY, bit 1 DMA_BUSY.</summary>
    Status = 0x20,

    /// <summary>W1C: bit 0 FACT_DONE, bit 1 DMA_DONE, bit 2 DMA_ERROR.</summary>
    InterruptStatus = 0x24,

    /// <summary>RW: the same bits as INT_STATUS; a cause interrupts only while enabled.</summary>
    InterruptEnable = 0x28,

    /// <summary>RW 64-bit: bus address the copy reads from.</summary>
    DmaSource = 0x30,

    /// <summary>RW 64-bit: bus address the copy writes to.</summary>
    DmaDestination = 0x38,

    /// <summary>RW, bits 20:0: bytes to copy, 1 … 1 MiB.</summary>
    DmaLength = 0x40,

    /// <summary>WO: bit 0 START (ignored while STATUS.DMA_BUSY); reads 0.</summary>
    DmaCommand = 0x44,

    /// <summary>RO: why the last copy failed (<see cref="EduDmaError"/>), 0 after a good one.</summary>
    DmaError = 0x48,

    /// <summary>RO: factorials completed since reset (wraps at 2^32).</summary>
    FactorialCount = 0x50,

    /// <summary>RO: bytes copied by good copies since reset (wraps at 2^32).</summary>
    DmaBytes = 0x54,
}

/// <summary>Bits of STATUS, INT_STATUS and INT_ENABLE, and of DMA_CMD.</summary>
public static class EduBits
{
    public const uint FactorialBusy = 1u << 0;
    public const uint DmaBusy = 1u << 1;

    public const uint FactorialDone = 1u << 0;
    public const uint DmaDone = 1u << 1;
    public const uint DmaFailed = 1u << 2;
    public const uint AllCauses = FactorialDone | DmaDone | DmaFailed;

    public const uint DmaStart = 1u << 0;

    public const uint IdValue = 0x010000ED;
    public const uint MaxFactorialInput = 0xFF;
    public const uint MaxDmaLength = 1u << 20;
}

/// <summary>DMA_ERROR codes (README.md §5).</summary>
public enum EduDmaError : uint
{
    None = 0,
    Unmapped = 1,
    AccessDenied = 2,
    BusMasterDisabled = 3,
    OwnBar = 4,
    BadLength = 5,
    AddressOverflow = 6,
    Transport = 7,
}
