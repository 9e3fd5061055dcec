"""Name material for synthetic AJK-style rolls: (romanized, Urdu) pairs. Data only."""

MALE_GIVEN = (
    ("Muhammad Aslam", "محمد اسلم"), ("Muhammad Arif", "محمد عارف"), ("Abdul Rashid", "عبدالرشید"),
    ("Ghulam Mustafa", "غلام مصطفیٰ"), ("Raja Farooq", "راجہ فاروق"), ("Sardar Tariq", "سردار طارق"),
    ("Khalid Mehmood", "خالد محمود"), ("Zulfiqar Ali", "ذوالفقار علی"), ("Imran Khan", "عمران خان"),
    ("Shahid Hussain", "شاہد حسین"), ("Naveed Akhtar", "نوید اختر"), ("Amjad Iqbal", "امجد اقبال"),
    ("Bilal Ahmed", "بلال احمد"), ("Faisal Javed", "فیصل جاوید"), ("Usman Ghani", "عثمان غنی"),
    ("Zahid Latif", "زاہد لطیف"), ("Tanveer Ahmed", "تنویر احمد"), ("Waqar Younis", "وقار یونس"),
    ("Asif Nawaz", "آصف نواز"), ("Saeed Akhtar", "سعید اختر"), ("Habib Ullah", "حبیب اللہ"),
    ("Mushtaq Ahmed", "مشتاق احمد"), ("Nadeem Abbas", "ندیم عباس"), ("Javed Iqbal", "جاوید اقبال"),
    ("Kamran Shah", "کامران شاہ"), ("Adnan Rafiq", "عدنان رفیق"), ("Sajid Mir", "ساجد میر"),
    ("Manzoor Hussain", "منظور حسین"), ("Rizwan Ashraf", "رضوان اشرف"), ("Azhar Mahmood", "اظہر محمود"),
)
FEMALE_GIVEN = (
    ("Nasreen Akhtar", "نسرین اختر"), ("Shabana Bibi", "شبانہ بی بی"), ("Rukhsana Kausar", "رخسانہ کوثر"),
    ("Farzana Begum", "فرزانہ بیگم"), ("Samina Yasmeen", "ثمینہ یاسمین"), ("Nusrat Parveen", "نصرت پروین"),
    ("Ayesha Siddiqa", "عائشہ صدیقہ"), ("Fatima Zahra", "فاطمہ زہرا"), ("Khadija Bibi", "خدیجہ بی بی"),
    ("Zainab Noor", "زینب نور"), ("Saima Batool", "صائمہ بتول"), ("Rubina Shaheen", "روبینہ شاہین"),
    ("Shazia Kanwal", "شازیہ کنول"), ("Nabila Iqbal", "نبیلہ اقبال"), ("Mehwish Hayat", "مہوش حیات"),
    ("Tahira Naz", "طاہرہ ناز"), ("Asma Jabeen", "اسماء جبیں"), ("Sadia Gul", "سعدیہ گل"),
    ("Kiran Fatima", "کرن فاطمہ"), ("Uzma Rani", "عظمیٰ رانی"), ("Hina Rubab", "حنا رباب"),
    ("Sumera Bano", "سمیرا بانو"), ("Iram Shahzadi", "ارم شہزادی"), ("Nighat Sultana", "نگہت سلطانہ"),
)
FAMILY_NAMES = (
    ("Abbasi", "عباسی"), ("Sudhan", "سدھن"), ("Rathore", "راٹھور"), ("Mughal", "مغل"), ("Qureshi", "قریشی"),
    ("Awan", "اعوان"), ("Chaudhry", "چوہدری"), ("Gujjar", "گجر"), ("Malik", "ملک"), ("Butt", "بٹ"),
    ("Kiyani", "کیانی"), ("Khawaja", "خواجہ"), ("Jarral", "جرال"), ("Bhatti", "بھٹی"), ("Shah", "شاہ"),
)
# (district, Urdu, CNIC locality prefix, villages (romanized, Urdu))
DISTRICTS = (
    ("Muzaffarabad", "مظفرآباد", "82203", (("Chattar Klass", "چھتر کلاس"), ("Garhi Dupatta", "گڑھی دوپٹہ"),
                                           ("Kohori", "کہوڑی"), ("Pattika", "پٹیکہ"))),
    ("Bagh", "باغ", "82101", (("Dhirkot", "دھیرکوٹ"), ("Harighel", "ہاڑی گہل"), ("Sudhan Gali", "سدھن گلی"),
                               ("Arja", "ارجہ"))),
    ("Poonch", "پونچھ", "82402", (("Rawalakot", "راولاکوٹ"), ("Hajira", "ہجیرہ"), ("Banjosa", "بنجوسہ"),
                                 ("Khai Gala", "کھائی گلہ"))),
    ("Mirpur", "میرپور", "81302", (("Dadyal", "ڈڈیال"), ("Chakswari", "چکسواری"), ("Islamgarh", "اسلام گڑھ"),
                                   ("Khari Sharif", "کھڑی شریف"))),
    ("Kotli", "کوٹلی", "81202", (("Sehnsa", "سہنسہ"), ("Fatehpur Thakiala", "فتح پور ٹھکیالہ"),
                                 ("Khuiratta", "کھوئی رٹہ"), ("Charhoi", "چڑھوئی"))),
)
